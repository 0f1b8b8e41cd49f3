package pexip

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/verdict-policy/verdict/internal/jsonenc"
)

// fieldOrder is the order known result fields are written in: the seed's
// order first, so the demo answer is byte for byte the Express example's,
// then the rest roughly as Pexip documents them. Other fields follow in
// name order.
var fieldOrder = []string{
	"service_type", "name", "service_tag", "description", "call_tag", "pin", "guest_pin",
	"guests_can_present", "allow_guests", "view", "locked",
	"new_alias", "location", "primary_overflow_location", "secondary_overflow_location", "overflow_locations",
	"username", "password", "reject_reason",
	"local_alias", "remote_alias", "outgoing_protocol", "called_device_type",
	"preauthenticated_role", "remote_display_name",
}

var fieldRank = func() map[string]int {
	m := make(map[string]int, len(fieldOrder))
	for i, f := range fieldOrder {
		m[f] = i
	}
	return m
}()

// boolFields and intFields are result fields Infinity wants as JSON
// booleans and numbers. Values rendered from templates or read from CSV
// arrive as text and are converted; text that does not convert is kept.
var (
	boolFields = setOf("allow_guests", "guests_can_present", "locked", "force_presenter_into_main",
		"mute_all_guests", "enable_overlay_text", "enable_active_speaker_indication", "bypass_proxy",
		"breakout_rooms", "denoise_enabled", "softmute_enabled", "treat_as_trusted", "transcoding_enabled",
		"teams_fit_to_frame", "external_participant_avatar_lookup", "denoise_audio", "breakout",
		"breakout_guests_allowed_to_leave", "bypass_lock", "can_receive_personal_mix",
		"disable_overlay_text", "prefers_multiscreen_mix", "wants_presentation_in_mix", "prominent")
	intFields = setOf("max_callrate_in", "max_callrate_out", "participant_limit",
		"direct_media_notification_duration", "display_count", "spotlight", "end_time")
)

func setOf(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// coerce gives a result field the JSON type Infinity expects: booleans and
// numbers for the fields that are, text for the rest (a PIN of 2931 in a
// YAML table is the string "2931").
func coerce(field string, v any) any {
	switch x := v.(type) {
	case string:
		switch {
		case boolFields[field]:
			switch strings.ToLower(x) {
			case "true", "yes":
				return true
			case "false", "no":
				return false
			}
		case intFields[field]:
			if n, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64); err == nil {
				return n
			}
		}
		return v // unchanged: returning v, not x, saves boxing the string again
	case int, int64, float64:
		if intFields[field] || boolFields[field] {
			return v
		}
		return scalarString(x)
	}
	return v
}

// result is a response's result object, built field by field.
type result map[string]any

// appendJSON writes the result with known fields first in fieldOrder.
func (r result) appendJSON(b []byte) []byte {
	type ranked struct {
		rank int
		key  string
	}
	var stack [24]ranked
	keys := stack[:0]
	for k := range r {
		rank, ok := fieldRank[k]
		if !ok {
			rank = len(fieldOrder)
		}
		keys = append(keys, ranked{rank, k})
	}
	slices.SortFunc(keys, func(a, b ranked) int {
		if a.rank != b.rank {
			return a.rank - b.rank
		}
		return strings.Compare(a.key, b.key)
	})
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k.key)
		b = append(b, ':')
		b = appendValue(b, r[k.key])
	}
	return append(b, '}')
}

// appendValue writes v as JSON. Maps are written in key order.
func appendValue(b []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...)
	case string:
		return appendString(b, x)
	case bool:
		return strconv.AppendBool(b, x)
	case int:
		return strconv.AppendInt(b, int64(x), 10)
	case int64:
		return strconv.AppendInt(b, x, 10)
	case float64:
		if math.IsInf(x, 0) || math.IsNaN(x) {
			return append(b, "null"...)
		}
		if x == math.Trunc(x) && math.Abs(x) < 1e15 {
			return strconv.AppendInt(b, int64(x), 10)
		}
		return strconv.AppendFloat(b, x, 'g', -1, 64)
	case result:
		return x.appendJSON(b)
	case []any:
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendValue(b, e)
		}
		return append(b, ']')
	case map[string]any:
		return result(x).appendJSON(b)
	}
	enc, err := json.Marshal(v)
	if err != nil {
		return append(b, "null"...)
	}
	return append(b, enc...)
}

// appendString writes s as a JSON string.
func appendString(b []byte, s string) []byte { return jsonenc.AppendString(b, s) }
