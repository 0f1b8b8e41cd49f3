package pexip

import (
	"bytes"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"testing"
)

// FuzzAvatarImage feeds arbitrary bytes through the avatar pipeline: the
// check before decoding, the decode, the reduction and the crop. Nothing
// may panic; an image that passes comes out at most maxAvatarSide a side,
// and every answer has exactly the size asked for.
func FuzzAvatarImage(f *testing.F) {
	src := image.NewNRGBA(image.Rect(0, 0, 7, 3))
	for i := range src.Pix {
		src.Pix[i] = byte(i * 37)
	}
	var b bytes.Buffer
	_ = png.Encode(&b, src)
	f.Add(append([]byte(nil), b.Bytes()...), uint16(5), uint16(9))
	b.Reset()
	_ = jpeg.Encode(&b, src, nil)
	f.Add(append([]byte(nil), b.Bytes()...), uint16(1), uint16(1))
	b.Reset()
	pal := image.NewPaletted(image.Rect(0, 0, 2, 5), color.Palette{color.White, color.Black})
	_ = gif.Encode(&b, pal, nil)
	f.Add(append([]byte(nil), b.Bytes()...), uint16(64), uint16(2))
	f.Add([]byte("\x89PNG\r\n\x1a\n"), uint16(3), uint16(3))
	f.Add([]byte{0xFF, 0xD8, 0xFF, 0xC2, 0x00, 0x11}, uint16(3), uint16(3))

	f.Fuzz(func(t *testing.T, data []byte, w, h uint16) {
		jpegProgressive(data) // reads markers of any bytes
		cost, err := imageCost(data)
		if err != nil {
			return
		}
		if cost <= 0 || cost > decodeBudget {
			t.Fatalf("cost %d outside (0, %d]", cost, decodeBudget)
		}
		img, err := decodeImage(data)
		if err != nil {
			return
		}
		small := reduce(img)
		if b := small.Bounds(); b.Dx() < 1 || b.Dy() < 1 || b.Dx() > maxAvatarSide || b.Dy() > maxAvatarSide {
			t.Fatalf("reduced to %v", b)
		}
		ww, hh := int(w)%128+1, int(h)%128+1
		out := cover(small, ww, hh)
		if b := out.Bounds(); b.Dx() != ww || b.Dy() != hh {
			t.Fatalf("cover(%d, %d) gave %v", ww, hh, b)
		}
		for i := 3; i < len(out.Pix); i += 4 {
			if out.Pix[i] != 0xFF {
				t.Fatal("a pixel of the answer is not opaque")
			}
		}
	})
}
