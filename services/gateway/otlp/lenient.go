package otlp

import (
	"bytes"
	"errors"
	"math"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	"google.golang.org/protobuf/encoding/protowire"
)

// The protobuf runtime refuses a whole message when one of its string
// fields is not valid UTF-8. Senders that do not check (the Collector's
// pdata, several SDKs) can send such strings, and one bad record must not
// fail its neighbours. So a Resource, scope or LogRecord the runtime
// refuses is read again here, field by field, keeping string fields' bytes
// as they are. The event made from it carries the bad string, and the
// publisher refuses that one record (reason invalid_utf8), dead-lettering
// its bytes as received. What this reader cannot parse either is malformed.
//
// It reads the fields jetlog maps and skips the others. When a singular
// field occurs twice, the last occurrence wins.

// errTooDeep is what the protobuf runtime would say past its recursion limit.
var errTooDeep = errors.New("exceeded maximum recursion depth")

func lenientResource(b []byte) (*resourcepb.Resource, error) {
	r := &resourcepb.Resource{}
	err := eachField(b, func(num protowire.Number, typ protowire.Type, val []byte, x uint64) error {
		switch {
		case num == 1 && typ == protowire.BytesType:
			kv, err := lenientKeyValue(val, 1)
			if err != nil {
				return err
			}
			r.Attributes = append(r.Attributes, kv)
		case num == 2 && typ == protowire.VarintType:
			r.DroppedAttributesCount = uint32(x)
		}
		return nil
	})
	return r, err
}

func lenientScope(b []byte) (*commonpb.InstrumentationScope, error) {
	s := &commonpb.InstrumentationScope{}
	err := eachField(b, func(num protowire.Number, typ protowire.Type, val []byte, x uint64) error {
		switch {
		case num == 1 && typ == protowire.BytesType:
			s.Name = string(val)
		case num == 2 && typ == protowire.BytesType:
			s.Version = string(val)
		case num == 3 && typ == protowire.BytesType:
			kv, err := lenientKeyValue(val, 1)
			if err != nil {
				return err
			}
			s.Attributes = append(s.Attributes, kv)
		case num == 4 && typ == protowire.VarintType:
			s.DroppedAttributesCount = uint32(x)
		}
		return nil
	})
	return s, err
}

func lenientLogRecord(b []byte) (*logspb.LogRecord, error) {
	lr := &logspb.LogRecord{}
	err := eachField(b, func(num protowire.Number, typ protowire.Type, val []byte, x uint64) error {
		switch {
		case num == 1 && typ == protowire.Fixed64Type:
			lr.TimeUnixNano = x
		case num == 2 && typ == protowire.VarintType:
			lr.SeverityNumber = logspb.SeverityNumber(int32(x))
		case num == 3 && typ == protowire.BytesType:
			lr.SeverityText = string(val)
		case num == 5 && typ == protowire.BytesType:
			v, err := lenientAnyValue(val, 1)
			if err != nil {
				return err
			}
			lr.Body = v
		case num == 6 && typ == protowire.BytesType:
			kv, err := lenientKeyValue(val, 1)
			if err != nil {
				return err
			}
			lr.Attributes = append(lr.Attributes, kv)
		case num == 7 && typ == protowire.VarintType:
			lr.DroppedAttributesCount = uint32(x)
		case num == 8 && typ == protowire.Fixed32Type:
			lr.Flags = uint32(x)
		case num == 9 && typ == protowire.BytesType:
			lr.TraceId = bytes.Clone(val)
		case num == 10 && typ == protowire.BytesType:
			lr.SpanId = bytes.Clone(val)
		case num == 11 && typ == protowire.Fixed64Type:
			lr.ObservedTimeUnixNano = x
		case num == 12 && typ == protowire.BytesType:
			lr.EventName = string(val)
		}
		return nil
	})
	return lr, err
}

func lenientKeyValue(b []byte, depth int) (*commonpb.KeyValue, error) {
	if depth > protowire.DefaultRecursionLimit {
		return nil, errTooDeep
	}
	kv := &commonpb.KeyValue{}
	err := eachField(b, func(num protowire.Number, typ protowire.Type, val []byte, _ uint64) error {
		switch {
		case num == 1 && typ == protowire.BytesType:
			kv.Key = string(val)
		case num == 2 && typ == protowire.BytesType:
			v, err := lenientAnyValue(val, depth+1)
			if err != nil {
				return err
			}
			kv.Value = v
		}
		return nil
	})
	return kv, err
}

func lenientAnyValue(b []byte, depth int) (*commonpb.AnyValue, error) {
	if depth > protowire.DefaultRecursionLimit {
		return nil, errTooDeep
	}
	v := &commonpb.AnyValue{}
	err := eachField(b, func(num protowire.Number, typ protowire.Type, val []byte, x uint64) error {
		switch {
		case num == 1 && typ == protowire.BytesType:
			v.Value = &commonpb.AnyValue_StringValue{StringValue: string(val)}
		case num == 2 && typ == protowire.VarintType:
			v.Value = &commonpb.AnyValue_BoolValue{BoolValue: x != 0}
		case num == 3 && typ == protowire.VarintType:
			v.Value = &commonpb.AnyValue_IntValue{IntValue: int64(x)}
		case num == 4 && typ == protowire.Fixed64Type:
			v.Value = &commonpb.AnyValue_DoubleValue{DoubleValue: math.Float64frombits(x)}
		case num == 5 && typ == protowire.BytesType:
			arr := &commonpb.ArrayValue{}
			err := eachField(val, func(num protowire.Number, typ protowire.Type, val []byte, _ uint64) error {
				if num != 1 || typ != protowire.BytesType {
					return nil
				}
				e, err := lenientAnyValue(val, depth+2)
				if err != nil {
					return err
				}
				arr.Values = append(arr.Values, e)
				return nil
			})
			if err != nil {
				return err
			}
			v.Value = &commonpb.AnyValue_ArrayValue{ArrayValue: arr}
		case num == 6 && typ == protowire.BytesType:
			kvl := &commonpb.KeyValueList{}
			err := eachField(val, func(num protowire.Number, typ protowire.Type, val []byte, _ uint64) error {
				if num != 1 || typ != protowire.BytesType {
					return nil
				}
				kv, err := lenientKeyValue(val, depth+2)
				if err != nil {
					return err
				}
				kvl.Values = append(kvl.Values, kv)
				return nil
			})
			if err != nil {
				return err
			}
			v.Value = &commonpb.AnyValue_KvlistValue{KvlistValue: kvl}
		case num == 7 && typ == protowire.BytesType:
			v.Value = &commonpb.AnyValue_BytesValue{BytesValue: bytes.Clone(val)}
		}
		return nil
	})
	return v, err
}
