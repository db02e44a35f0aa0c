package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// The shipper's settings: what Fluent Bit's tail input and forward output
// (infra/fluent-bit/forward.yaml) do by default.
const (
	// chunkBytes is the most a Fluent Bit chunk holds (about 2 MB; fixed
	// in Fluent Bit) and so the most one forward message carries.
	chunkBytes = 2_000_000
	// shipperWorkers is how many chunks are in flight at once, one per
	// connection, each waiting for its ack (require_ack_response): the
	// default `workers: 2` of Fluent Bit's forward and opensearch outputs.
	shipperWorkers = 2
)

// Chunk is one forward message as Fluent Bit's forward output sends it with
// require_ack_response: PackedForward, [tag, entries, {"chunk": id,
// "size": n}], each entry [EventTime, {"log": line}] (the record of the
// tail input without a parser).
type Chunk struct {
	ID      string
	Records int
	Data    []byte
}

// ForwardChunks packs lines into chunks of at most chunkBytes of entries.
// Fluent Bit holds its chunks as msgpack already, so they are built
// before a measurement starts, as the baseline's documents are.
func ForwardChunks(tag string, lines []Line, runID string) ([]Chunk, error) {
	var out []Chunk
	var entries bytes.Buffer
	n := 0
	flush := func() error {
		if n == 0 {
			return nil
		}
		raw := make([]byte, 16)
		binary.BigEndian.PutUint64(raw, uint64(len(out)))
		copy(raw[8:], runID)
		id := base64.StdEncoding.EncodeToString(raw)
		data, err := msgpack.Marshal([]any{tag, entries.Bytes(), map[string]any{"chunk": id, "size": n}})
		if err != nil {
			return err
		}
		out = append(out, Chunk{ID: id, Records: n, Data: data})
		entries.Reset()
		n = 0
		return nil
	}
	var entry []byte
	for _, l := range lines {
		entry = appendEntry(entry[:0], l)
		if entries.Len()+len(entry) > chunkBytes {
			if err := flush(); err != nil {
				return nil, err
			}
		}
		entries.Write(entry)
		n++
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return out, nil
}

// appendEntry appends [EventTime, {"log": line}] in msgpack.
func appendEntry(b []byte, l Line) []byte {
	b = append(b, 0x92, 0xd7, 0x00) // fixarray 2; fixext 8 of type 0: EventTime
	b = binary.BigEndian.AppendUint32(b, uint32(l.Time.Unix()))
	b = binary.BigEndian.AppendUint32(b, uint32(l.Time.Nanosecond()))
	b = append(b, 0x81, 0xa3, 'l', 'o', 'g') // fixmap 1, fixstr "log"
	switch n := len(l.Data); {
	case n < 32:
		b = append(b, 0xa0|byte(n))
	case n < 1<<8:
		b = append(b, 0xd9, byte(n))
	case n < 1<<16:
		b = append(b, 0xda)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, 0xdb)
		b = binary.BigEndian.AppendUint32(b, uint32(n))
	}
	return append(b, l.Data...)
}

// ShipResult is what the shipper saw: every chunk acknowledged, and when
// the last ack came.
type ShipResult struct {
	Records int
	LastAck time.Time
}

// Ship sends chunks to a forward listener over shipperWorkers connections,
// each sending one chunk and waiting for its ack before the next, as
// Fluent Bit's forward output does. A chunk the gateway does not
// acknowledge fails the run: a healthy pipeline acknowledges every chunk.
func Ship(ctx context.Context, addr string, chunks []Chunk) (ShipResult, error) {
	work := make(chan Chunk, len(chunks))
	for _, c := range chunks {
		work <- c
	}
	close(work)
	var acked atomic.Int64
	var last atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, shipperWorkers)
	for range shipperWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := shipOn(ctx, addr, work, &acked, &last); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		return ShipResult{}, err
	}
	return ShipResult{Records: int(acked.Load()), LastAck: time.Unix(0, last.Load())}, nil
}

func shipOn(ctx context.Context, addr string, work <-chan Chunk, acked, last *atomic.Int64) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	dec := msgpack.NewDecoder(bufio.NewReader(c))
	for ch := range work {
		if _, err := c.Write(ch.Data); err != nil {
			return fmt.Errorf("send chunk %s: %w", ch.ID, err)
		}
		// Fluent Bit waits for the ack without a deadline of its own
		// (the gateway's ack_timeout bounds it); a stalled pipeline shows
		// here as a run that never ends, so the harness bounds it.
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Minute))
		var ack map[string]string
		if err := dec.Decode(&ack); err != nil || ack["ack"] != ch.ID {
			return fmt.Errorf("chunk %s of %d records: ack %v, %v", ch.ID, ch.Records, ack, err)
		}
		acked.Add(int64(ch.Records))
		last.Store(time.Now().UnixNano())
	}
	return nil
}

// bulkDoc is what Fluent Bit's opensearch output writes for a record of
// the tail input: the line under "log" and the time under "@timestamp"
// (its default Time_Key and format).
func bulkDoc(l Line) []byte {
	b, _ := json.Marshal(struct {
		Timestamp string `json:"@timestamp"`
		Log       string `json:"log"`
	}{l.Time.UTC().Format("2006-01-02T15:04:05.000Z"), string(l.Data)})
	return b
}
