package dynamo

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Meter is an API that asks DynamoDB for the capacity every call consumes
// (ReturnConsumedCapacity INDEXES) and adds it up, per table and per index.
// DynamoDB itself reports the units of every index; an emulator that reports
// only the table's (dynalite) leaves the index units to the meter, which
// then derives them from the item before and after each write by
// DynamoDB's documented rules (IndexWriteUnits). It reads those images
// through the API it wraps, uncounted; that is what Estimate turns on, for
// tests and benchmarks against an emulator only (docs/dynamodb.md, "Request
// units").
type Meter struct {
	API
	// Schema is the tables' definitions: key schemas and indexes.
	Schema []*dynamodb.CreateTableInput
	// Estimate derives index units from item images when the answer has none.
	Estimate bool

	mu    sync.Mutex
	units map[string]*Units
	calls int
}

// Units is the capacity consumed on one table or index.
type Units struct {
	Read, Write float64
}

// Reset forgets what was counted.
func (m *Meter) Reset() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.units, m.calls = nil, 0
}

// Totals returns the read and write units counted, indexes included, and
// the number of calls.
func (m *Meter) Totals() (read, write float64, calls int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, u := range m.units {
		read += u.Read
		write += u.Write
	}
	return read, write, m.calls
}

// Breakdown returns the units per table ("table") and index ("table/index").
func (m *Meter) Breakdown() map[string]Units {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]Units, len(m.units))
	for k, u := range m.units {
		out[k] = *u
	}
	return out
}

func (m *Meter) add(name string, read, write float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.units == nil {
		m.units = map[string]*Units{}
	}
	u := m.units[name]
	if u == nil {
		u = &Units{}
		m.units[name] = u
	}
	u.Read += read
	u.Write += write
}

// record adds one answer's consumed capacity. write says whether the table
// units are write units. It reports whether the answer named any index.
func (m *Meter) record(table string, cc *types.ConsumedCapacity, write bool) (indexes bool) {
	m.mu.Lock()
	m.calls++
	m.mu.Unlock()
	if cc == nil {
		return false
	}
	u := func(c *types.Capacity) (r, w float64) {
		switch {
		case c == nil:
		case c.ReadCapacityUnits != nil || c.WriteCapacityUnits != nil:
			r, w = aws.ToFloat64(c.ReadCapacityUnits), aws.ToFloat64(c.WriteCapacityUnits)
		case write:
			w = aws.ToFloat64(c.CapacityUnits)
		default:
			r = aws.ToFloat64(c.CapacityUnits)
		}
		return r, w
	}
	if cc.Table != nil {
		r, w := u(cc.Table)
		m.add(table, r, w)
	} else if write {
		m.add(table, 0, aws.ToFloat64(cc.CapacityUnits))
	} else {
		m.add(table, aws.ToFloat64(cc.CapacityUnits), 0)
	}
	for _, ix := range []map[string]types.Capacity{cc.GlobalSecondaryIndexes, cc.LocalSecondaryIndexes} {
		for name, c := range ix {
			r, w := u(&c)
			m.add(table+"/"+name, r, w)
			indexes = true
		}
	}
	return indexes
}

func (m *Meter) table(name string) *dynamodb.CreateTableInput {
	for _, t := range m.Schema {
		if aws.ToString(t.TableName) == name {
			return t
		}
	}
	return nil
}

// image reads the item at key, uncounted, for the index estimate.
func (m *Meter) image(ctx context.Context, table string, key item) item {
	out, err := m.API.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: key, ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil
	}
	return out.Item
}

func (m *Meter) keyOf(table string, it item) item {
	t := m.table(table)
	if t == nil {
		return nil
	}
	k := item{}
	for _, e := range t.KeySchema {
		k[aws.ToString(e.AttributeName)] = it[aws.ToString(e.AttributeName)]
	}
	return k
}

// write runs a write, counting its units and, when the answer has no
// index units and Estimate is on, those its indexes would have consumed.
func (m *Meter) write(ctx context.Context, table string, key item, do func() (*types.ConsumedCapacity, error)) error {
	t := m.table(table)
	est := m.Estimate && t != nil && (len(t.GlobalSecondaryIndexes) > 0 || len(t.LocalSecondaryIndexes) > 0)
	var before item
	if est {
		before = m.image(ctx, table, key)
	}
	cc, err := do()
	if err != nil {
		m.mu.Lock()
		m.calls++
		m.mu.Unlock()
		return err
	}
	if m.record(table, cc, true) || !est {
		return nil
	}
	after := m.image(ctx, table, key)
	for name, w := range IndexWriteUnits(t, before, after) {
		m.add(table+"/"+name, 0, w)
	}
	return nil
}

// GetItem implements API.
func (m *Meter) GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	c := *in
	c.ReturnConsumedCapacity = types.ReturnConsumedCapacityIndexes
	out, err := m.API.GetItem(ctx, &c, optFns...)
	if err == nil {
		m.record(aws.ToString(in.TableName), out.ConsumedCapacity, false)
	}
	return out, err
}

// Query implements API.
func (m *Meter) Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	c := *in
	c.ReturnConsumedCapacity = types.ReturnConsumedCapacityIndexes
	out, err := m.API.Query(ctx, &c, optFns...)
	if err == nil {
		m.record(aws.ToString(in.TableName), out.ConsumedCapacity, false)
	}
	return out, err
}

// PutItem implements API.
func (m *Meter) PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (out *dynamodb.PutItemOutput, err error) {
	c := *in
	c.ReturnConsumedCapacity = types.ReturnConsumedCapacityIndexes
	table := aws.ToString(in.TableName)
	err = m.write(ctx, table, m.keyOf(table, in.Item), func() (*types.ConsumedCapacity, error) {
		out, err = m.API.PutItem(ctx, &c, optFns...)
		if err != nil {
			return nil, err
		}
		return out.ConsumedCapacity, nil
	})
	return out, err
}

// UpdateItem implements API.
func (m *Meter) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (out *dynamodb.UpdateItemOutput, err error) {
	c := *in
	c.ReturnConsumedCapacity = types.ReturnConsumedCapacityIndexes
	err = m.write(ctx, aws.ToString(in.TableName), in.Key, func() (*types.ConsumedCapacity, error) {
		out, err = m.API.UpdateItem(ctx, &c, optFns...)
		if err != nil {
			return nil, err
		}
		return out.ConsumedCapacity, nil
	})
	return out, err
}

// DeleteItem implements API.
func (m *Meter) DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (out *dynamodb.DeleteItemOutput, err error) {
	c := *in
	c.ReturnConsumedCapacity = types.ReturnConsumedCapacityIndexes
	err = m.write(ctx, aws.ToString(in.TableName), in.Key, func() (*types.ConsumedCapacity, error) {
		out, err = m.API.DeleteItem(ctx, &c, optFns...)
		if err != nil {
			return nil, err
		}
		return out.ConsumedCapacity, nil
	})
	return out, err
}

// IndexWriteUnits is what a write that turns item before into after (nil:
// absent) costs each secondary index of table t, by DynamoDB's rules
// ("Provisioned throughput considerations for Global Secondary Indexes"):
// an item enters an index only when it has the index's key attributes; an
// index entry is written when the item enters the index (one put), leaves it
// (one delete), changes an index key attribute (a delete and a put), or
// changes a projected attribute (one put); each put or delete costs one
// write unit per KB of the projected entry, rounded up.
func IndexWriteUnits(t *dynamodb.CreateTableInput, before, after item) map[string]float64 {
	out := map[string]float64{}
	type index struct {
		name string
		keys []types.KeySchemaElement
		proj *types.Projection
	}
	var ixs []index
	for _, g := range t.GlobalSecondaryIndexes {
		ixs = append(ixs, index{aws.ToString(g.IndexName), g.KeySchema, g.Projection})
	}
	for _, l := range t.LocalSecondaryIndexes {
		ixs = append(ixs, index{aws.ToString(l.IndexName), l.KeySchema, l.Projection})
	}
	for _, ix := range ixs {
		in := func(it item) bool {
			if it == nil {
				return false
			}
			for _, k := range ix.keys {
				if it[aws.ToString(k.AttributeName)] == nil {
					return false
				}
			}
			return true
		}
		entry := func(it item) item {
			e := item{}
			for _, k := range append(append([]types.KeySchemaElement{}, t.KeySchema...), ix.keys...) {
				e[aws.ToString(k.AttributeName)] = it[aws.ToString(k.AttributeName)]
			}
			switch {
			case ix.proj == nil || ix.proj.ProjectionType == types.ProjectionTypeKeysOnly:
			case ix.proj.ProjectionType == types.ProjectionTypeAll:
				return it
			default:
				for _, a := range ix.proj.NonKeyAttributes {
					if v, ok := it[a]; ok {
						e[a] = v
					}
				}
			}
			return e
		}
		wu := func(it item) float64 { return math.Ceil(float64(max(ItemSize(entry(it)), 1)) / 1024) }
		keyChanged := func() bool {
			for _, k := range ix.keys {
				n := aws.ToString(k.AttributeName)
				if !sameValue(before[n], after[n]) {
					return true
				}
			}
			return false
		}
		var w float64
		switch bi, ai := in(before), in(after); {
		case !bi && !ai:
		case bi && !ai:
			w = wu(before)
		case !bi && ai:
			w = wu(after)
		case keyChanged():
			w = wu(before) + wu(after)
		case !sameItem(entry(before), entry(after)):
			w = wu(after)
		}
		if w > 0 {
			out[ix.name] = w
		}
	}
	return out
}

// ItemSize is an item's size by DynamoDB's rules ("Item sizes and
// formats"): the UTF-8 length of each attribute name plus the size of its
// value.
func ItemSize(it item) int {
	n := 0
	for k, v := range it {
		n += len(k) + valueSize(v)
	}
	return n
}

func valueSize(v types.AttributeValue) int {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return len(v.Value)
	case *types.AttributeValueMemberB:
		return len(v.Value)
	case *types.AttributeValueMemberN:
		return numberSize(v.Value)
	case *types.AttributeValueMemberSS:
		n := 0
		for _, s := range v.Value {
			n += len(s)
		}
		return n
	case *types.AttributeValueMemberNS:
		n := 0
		for _, s := range v.Value {
			n += numberSize(s)
		}
		return n
	case *types.AttributeValueMemberBS:
		n := 0
		for _, b := range v.Value {
			n += len(b)
		}
		return n
	case *types.AttributeValueMemberBOOL, *types.AttributeValueMemberNULL:
		return 1
	case *types.AttributeValueMemberL:
		n := 3
		for _, e := range v.Value {
			n += 1 + valueSize(e)
		}
		return n
	case *types.AttributeValueMemberM:
		return 3 + len(v.Value) + ItemSize(v.Value)
	}
	return 0
}

// numberSize: about one byte per two significant digits, plus one.
func numberSize(s string) int {
	s = strings.TrimLeft(strings.TrimPrefix(s, "-"), "0.")
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		s = s[:i]
	}
	s = strings.TrimRight(strings.ReplaceAll(s, ".", ""), "0")
	if s == "" {
		return 1
	}
	return 1 + (len(s)+1)/2
}

func sameItem(a, b item) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !sameValue(v, b[k]) {
			return false
		}
	}
	return true
}

func sameValue(a, b types.AttributeValue) bool {
	return fmt.Sprintf("%#v", deref(a)) == fmt.Sprintf("%#v", deref(b))
}

func deref(v types.AttributeValue) any {
	switch v := v.(type) {
	case nil:
		return nil
	case *types.AttributeValueMemberM:
		m := map[string]any{}
		for k, e := range v.Value {
			m[k] = deref(e)
		}
		return m
	case *types.AttributeValueMemberL:
		l := make([]any, len(v.Value))
		for i, e := range v.Value {
			l[i] = deref(e)
		}
		return l
	case *types.AttributeValueMemberS:
		return "S:" + v.Value
	case *types.AttributeValueMemberN:
		return "N:" + v.Value
	case *types.AttributeValueMemberB:
		return "B:" + string(v.Value)
	case *types.AttributeValueMemberBOOL:
		return v.Value
	}
	return fmt.Sprintf("%T%v", v, v)
}
