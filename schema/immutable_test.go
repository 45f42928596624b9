package schema_test

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"testing"

	"github.com/upstream-rcm/upstream/schema"
)

// shipped pins every migration that has been released: databases out there
// ran exactly these bytes, so a change must be a new migration, never an
// edit (0007 was once rewritten in place). Add new files here when they
// ship.
var shipped = map[string]string{
	"0001_customers_mappings.sql":             "790657b53af1e4ce58528c5fa9393d6e4d5dc2e54c1f3c155dd7ad57fa9d0f1f",
	"0002_uploads_claims.sql":                 "8335821ff15525347715c3d1ed0a19430f5e2aa11593208b9241925cbd8581e5",
	"0003_drift.sql":                          "fb6bfb183b6352bcbbdcd056137bf7f921317749bd6681ef6e00d80ec3296ae6",
	"0004_drift_events_unique_index.sql":      "b243619cbbdcaacc6bcc9bdc3eae0f2c20ab8caaecefb7254e6bd7d73afaca8f",
	"0005_drift_events_unique_constraint.sql": "100db6e3ae9b3719a1f6dbaf7fcb88aa057a95266054365d68d46297be558127",
	"0006_api_keys.sql":                       "70552f395528c12347a0719cdab14b9e0d9319f95b32b58fad05be3c6feb54f8",
	"0007_claim_day_stats.sql":                "407284b2024ffc263f91c159c4eaa4ed933c2f56815920f5534fc6147015096f",
	"0008_customer_cascades.sql":              "29ab4ea3a00df6fe07615e81c7bac7df01f5ad1a42bf74fad767d3973fdd3451",
	"0009_claim_stats_evidence.sql":           "d737aa46405e77228c214a211c18fa18e8f9704c5797302ad7926f55196c6834",
	"0010_webhooks_alerts.sql":                "f69e3c52162494b74a33969a0c9378c169b1053456cd0aca8d085a1b571b66fd",
	"0011_upload_warnings.sql":                "9229cd7de7db8fb27d32431796d9a18657d9f420ef31becc41915ffb478140f2",
	"0012_claim_drivers.sql":                  "1336ad459db50ea72d6e201ed5ae522b8ecf953979f33670dc15db6816467333",
	"0013_claim_records_lean.sql":             "c960bf2646d0c1bfa8bbabcc8af993d97e32cf51248d9684ca3fc47ac021ff0c",
	"0014_claim_identity.sql":                 "2d284aef33e6d5e2bdeead34a3ac68c4be883b2dcedef670243d83d5a3c1a23d",
	"0015_claims_lean.sql":                    "cce6391fe3b2e2bc7d966ca81c7b44c18083a32547befbd2faf7864accb378a4",
}

func TestShippedMigrationsAreUnchanged(t *testing.T) {
	t.Parallel()
	for name, want := range shipped {
		b, err := fs.ReadFile(schema.Migrations, name)
		if err != nil {
			t.Errorf("shipped migration %s is gone: %v", name, err)
			continue
		}
		sum := sha256.Sum256(b)
		if got := hex.EncodeToString(sum[:]); got != want {
			t.Errorf("shipped migration %s was edited (sha256 %s, shipped %s): add a new migration instead", name, got, want)
		}
	}
}
