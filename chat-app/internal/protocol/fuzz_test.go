package protocol

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

// FuzzDecode checks that Decode never panics, that every rejection is a
// *DecodeError whose error frame encodes, and that any accepted frame
// re-encodes and decodes to the same value.
func FuzzDecode(f *testing.F) {
	seeds := []string{
		`{"type":"auth","token":"t"}`,
		`{"type":"sync","conversations":[{"conversation_id":"9007199254740993","after_seq":4}],"more":true}`,
		`{"type":"send","conversation_id":"1","client_msg_id":"c","body":"hi \u2028 \"x\""}`,
		`{"type":"edit","conversation_id":"1","client_msg_id":"c","ref_seq":3,"body":"b"}`,
		`{"type":"delete","conversation_id":"1","client_msg_id":"c","ref_seq":3}`,
		`{"type":"typing","conversation_id":"1"}`,
		`{"type":"delivered","conversation_id":"1","seq":9}`,
		`{"type":"read","conversation_id":"1","seq":9}`,
		`{"type":"ping","nonce":"n"}`,
		`{"type":"typing","conversation_id":1}`,
		`{"type":"ping","type":"ping"}`,
		`{"type":"send"`,
		"\xff",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := Decode(b)
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error is %T, not *DecodeError: %v", err, err)
			}
			out, err := Encode(de.Frame())
			if err != nil || !json.Valid(out) {
				t.Fatalf("error frame does not encode: %v %q", err, out)
			}
			return
		}
		out, err := EncodeClient(fr)
		if err != nil {
			t.Fatalf("re-encode %#v: %v", fr, err)
		}
		again, err := Decode(out)
		if err != nil {
			t.Fatalf("re-encoded frame %q rejected: %v (from %q)", out, err, b)
		}
		if !reflect.DeepEqual(fr, again) {
			t.Fatalf("round trip changed the frame:\n%#v\n%#v", fr, again)
		}
	})
}

// FuzzAppendString checks the hand-written JSON string encoder of the
// fan-out path against encoding/json.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "a", "\"\\\n\x00", "\u2028\u2029", "\xff\xe2\x82", "😀<>&"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := appendString(nil, s)
		var dec string
		if err := json.Unmarshal(got, &dec); err != nil {
			t.Fatalf("invalid JSON %q for %q: %v", got, s, err)
		}
		ref, _ := json.Marshal(s)
		var want string
		if err := json.Unmarshal(ref, &want); err != nil {
			t.Fatal(err)
		}
		if dec != want {
			t.Fatalf("appendString(%q) decodes to %q, encoding/json gives %q", s, dec, want)
		}
	})
}
