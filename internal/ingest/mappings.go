package ingest

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/upstream-rcm/upstream/internal/db"
	"github.com/upstream-rcm/upstream/internal/store"
)

// MaxMappingRows bounds a mapping file; mappings are held in memory.
const MaxMappingRows = 1_000_000

// MappingFileError lists what is wrong with a mapping file.
type MappingFileError struct {
	File   string     // "payers" or "cpt-groups"
	Errors []RowError // the first MaxStoredRowErrors
	Total  int        // how many problems in all
}

func (e *MappingFileError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "invalid %s mapping file:", e.File)
	for i, re := range e.Errors {
		if i == 10 {
			fmt.Fprintf(&b, "\n  ... and %d more", max(e.Total, len(e.Errors))-10)
			break
		}
		if re.Row > 0 {
			fmt.Fprintf(&b, "\n  row %d, %s: %s", re.Row, re.Field, re.Message)
		} else {
			fmt.Fprintf(&b, "\n  %s", re.Message)
		}
	}
	return b.String()
}

// Mappings normalize payers and CPT codes for one customer.
type Mappings struct {
	// Payers maps PayerKey(raw name) to the normalized name.
	Payers map[string]string
	// CPTGroups maps CPTKey(code) to its group.
	CPTGroups map[string]string
}

// PayerKey is the lookup key of a raw payer name: trimmed, lower-cased.
func PayerKey(raw string) string { return strings.ToLower(strings.TrimSpace(raw)) }

// CPTKey is the lookup key of a CPT code: trimmed, upper-cased.
func CPTKey(code string) string { return strings.ToUpper(strings.TrimSpace(code)) }

// Payer returns the normalized payer name: the mapping, else the trimmed name.
func (m *Mappings) Payer(raw string) string {
	if n, ok := m.Payers[PayerKey(raw)]; ok {
		return n
	}
	return strings.TrimSpace(raw)
}

// CPTGroup returns the group of a CPT code, UnmappedCPTGroup when unmapped.
func (m *Mappings) CPTGroup(code string) string {
	if g, ok := m.CPTGroups[CPTKey(code)]; ok {
		return g
	}
	return UnmappedCPTGroup
}

// apply normalizes a record's payer and sets its CPT group.
func (m *Mappings) apply(r *Record) {
	r.Payer = m.Payer(r.Payer)
	r.CPTGroup = m.CPTGroup(r.CPT)
}

// MappingCounts says how many mappings a replacement stored.
type MappingCounts struct {
	Payers    *int `json:"payers,omitempty"`
	CPTGroups *int `json:"cpt_groups,omitempty"`
}

// LoadMappings reads the customer's current mappings.
func LoadMappings(ctx context.Context, q *db.Queries, customerID int64) (*Mappings, error) {
	payers, err := q.PayerMappingListByCustomer(ctx, customerID)
	if err != nil {
		return nil, fmt.Errorf("load payer mappings: %w", err)
	}
	groups, err := q.CPTGroupMappingListByCustomer(ctx, customerID)
	if err != nil {
		return nil, fmt.Errorf("load CPT group mappings: %w", err)
	}
	m := &Mappings{Payers: make(map[string]string, len(payers)), CPTGroups: make(map[string]string, len(groups))}
	for _, p := range payers {
		m.Payers[p.RawNameKey] = p.NormalizedName
	}
	for _, g := range groups {
		m.CPTGroups[g.CPT] = g.CPTGroup
	}
	return m, nil
}

// ReplaceMappings replaces the customer's payer mappings (CSV with columns
// raw_name,normalized_name) and/or CPT group mappings (cpt,cpt_group); a nil
// reader leaves that kind unchanged. Both files are validated completely
// before anything is written, and both are replaced in one transaction.
// Mappings apply to uploads that follow; stored claims keep their values
// unless reclassified (ReplaceMappingsAndReclassify).
func ReplaceMappings(ctx context.Context, pool *pgxpool.Pool, customerID int64, payers, cptGroups io.Reader) (MappingCounts, error) {
	counts, _, err := replaceMappings(ctx, pool, nil, customerID, payers, cptGroups)
	return counts, err
}

// ReplaceMappingsAndReclassify replaces the mappings as ReplaceMappings
// does and, in the same transaction, re-applies them to the customer's
// stored claims, rebuilds its statistics and requests a drift computation
// (see Reclassify).
func (u *Uploader) ReplaceMappingsAndReclassify(ctx context.Context, customerID int64, payers, cptGroups io.Reader) (MappingCounts, *Reclassified, error) {
	return replaceMappings(ctx, u.Pool, u, customerID, payers, cptGroups)
}

// replaceMappings validates the files, then stores them and, when u is not
// nil, reclassifies, in one transaction.
func replaceMappings(ctx context.Context, pool *pgxpool.Pool, u *Uploader, customerID int64, payers, cptGroups io.Reader) (MappingCounts, *Reclassified, error) {
	var counts MappingCounts
	var payerRows []db.PayerMappingInsertManyParams
	var groupRows []db.CPTGroupMappingInsertManyParams
	if payers != nil {
		pairs, err := readMappingFile("payers", payers, "raw_name", "normalized_name", PayerKey)
		if err != nil {
			return counts, nil, err
		}
		for _, p := range pairs {
			payerRows = append(payerRows, db.PayerMappingInsertManyParams{
				CustomerID: customerID, RawNameKey: PayerKey(p.key), RawName: p.key, NormalizedName: p.value})
		}
	}
	if cptGroups != nil {
		pairs, err := readMappingFile("cpt-groups", cptGroups, "cpt", "cpt_group", CPTKey)
		if err != nil {
			return counts, nil, err
		}
		for _, p := range pairs {
			groupRows = append(groupRows, db.CPTGroupMappingInsertManyParams{
				CustomerID: customerID, CPT: CPTKey(p.key), CPTGroup: p.value})
		}
	}

	tx, err := pool.Begin(ctx)
	if err != nil {
		return counts, nil, fmt.Errorf("begin mapping replacement: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	q := store.New(tx)
	// Replacements of one customer's mappings take turns (each deletes and
	// inserts them). With reclassification the lock is exclusive (see
	// reclassifyTx); without, FOR NO KEY UPDATE lets uploads go on beside.
	if u != nil {
		err = lockCustomerExclusive(ctx, q, customerID)
	} else if _, err = q.CustomerLockForDrift(ctx, customerID); errors.Is(err, store.ErrNotFound) {
		err = fmt.Errorf("customer %d: %w", customerID, ErrCustomerNotFound)
	}
	if err != nil {
		return counts, nil, err
	}
	if counts, err = storeMappings(ctx, q, customerID, payerRows, groupRows, payers != nil, cptGroups != nil); err != nil {
		return counts, nil, err
	}
	var res *Reclassified
	if u != nil {
		if res, err = u.reclassifyTx(ctx, q, customerID); err != nil {
			return counts, nil, err
		}
		job, err := u.enqueueDrift(ctx, tx, customerID)
		if err != nil {
			return counts, nil, err
		}
		res.JobID = job.JobID
	}
	if err := commit(ctx, tx); err != nil {
		return counts, nil, fmt.Errorf("commit mapping replacement: %w", err)
	}
	return counts, res, nil
}

func storeMappings(ctx context.Context, q *db.Queries, customerID int64, payerRows []db.PayerMappingInsertManyParams,
	groupRows []db.CPTGroupMappingInsertManyParams, replacePayers, replaceGroups bool) (MappingCounts, error) {
	var counts MappingCounts
	if replacePayers {
		if err := q.PayerMappingDeleteByCustomer(ctx, customerID); err != nil {
			return counts, fmt.Errorf("delete payer mappings: %w", err)
		}
		if _, err := q.PayerMappingInsertMany(ctx, payerRows); err != nil {
			return counts, fmt.Errorf("store payer mappings: %w", err)
		}
		n := len(payerRows)
		counts.Payers = &n
	}
	if replaceGroups {
		if err := q.CPTGroupMappingDeleteByCustomer(ctx, customerID); err != nil {
			return counts, fmt.Errorf("delete CPT group mappings: %w", err)
		}
		if _, err := q.CPTGroupMappingInsertMany(ctx, groupRows); err != nil {
			return counts, fmt.Errorf("store CPT group mappings: %w", err)
		}
		n := len(groupRows)
		counts.CPTGroups = &n
	}
	return counts, nil
}

type mappingPair struct {
	key, value string
	row        int
}

// readMappingFile reads a two-column mapping CSV, validating every row. Keys
// are compared by keyOf; the same key twice with different values is an
// error, the same pair twice is harmless.
func readMappingFile(file string, r io.Reader, keyCol, valueCol string, keyOf func(string) string) ([]mappingPair, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, &MappingFileError{File: file, Errors: []RowError{{Message: fmt.Sprintf("the file is empty: header %s,%s required", keyCol, valueCol)}}}
	}
	if err != nil {
		return nil, &MappingFileError{File: file, Errors: []RowError{{Message: "unreadable header: " + err.Error()}}}
	}
	keyIdx, valueIdx := -1, -1
	for i, name := range header {
		if i == 0 {
			name = strings.TrimPrefix(name, "\ufeff")
		}
		switch strings.ToLower(strings.TrimSpace(name)) {
		case keyCol:
			keyIdx = i
		case valueCol:
			valueIdx = i
		}
	}
	if keyIdx < 0 || valueIdx < 0 {
		return nil, &MappingFileError{File: file, Errors: []RowError{{Message: fmt.Sprintf("header must name columns %s and %s, got %q", keyCol, valueCol, strings.Join(header, ","))}}}
	}
	var pairs []mappingPair
	var problems []RowError
	total := 0
	problem := func(e RowError) { // keep the first few, count them all
		total++
		if len(problems) < MaxStoredRowErrors {
			problems = append(problems, e)
		}
	}
	seen := map[string]mappingPair{}
	for {
		record, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var parseErr *csv.ParseError
			if !errors.As(err, &parseErr) {
				return nil, fmt.Errorf("read %s mapping file: %w", file, err)
			}
			problem(RowError{Row: parseErr.StartLine, Message: "malformed CSV: " + parseErr.Err.Error()})
			continue
		}
		line, _ := cr.FieldPos(0)
		get := func(i int) string {
			if i < len(record) {
				return strings.TrimSpace(record[i])
			}
			return ""
		}
		p := mappingPair{key: get(keyIdx), value: get(valueIdx), row: line}
		switch {
		case p.key == "":
			problem(RowError{Row: line, Field: keyCol, Message: "required value is empty"})
		case p.value == "":
			problem(RowError{Row: line, Field: valueCol, Message: "required value is empty"})
		default:
			k := keyOf(p.key)
			if prev, dup := seen[k]; dup {
				if prev.value != p.value {
					problem(RowError{Row: line, Field: keyCol,
						Message: fmt.Sprintf("%q is mapped to %q here but to %q on row %d", p.key, p.value, prev.value, prev.row)})
				}
				continue
			}
			seen[k] = p
			pairs = append(pairs, p)
		}
		if len(pairs) > MaxMappingRows {
			return nil, &MappingFileError{File: file, Errors: []RowError{{Message: fmt.Sprintf("more than %d mappings", MaxMappingRows)}}}
		}
	}
	if len(problems) > 0 {
		return nil, &MappingFileError{File: file, Errors: problems, Total: total}
	}
	return pairs, nil
}
