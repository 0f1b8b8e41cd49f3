package pexip

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	_ "image/gif" // decoders for image.Decode
	_ "image/jpeg"
	_ "image/png"
	"math"
)

// imageCost checks an encoded image before it is decoded and returns how
// many bytes decoding it may take, so that huge images are refused and big
// ones wait for memory before their pixels are allocated.
func imageCost(data []byte) (int64, error) {
	if len(data) > maxSourceBytes {
		return 0, fmt.Errorf("image larger than %d bytes", maxSourceBytes)
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return 0, fmt.Errorf("decode image: %w", err)
	}
	w, h := int64(cfg.Width), int64(cfg.Height)
	if w <= 0 || h <= 0 || w > maxSourceSide || h > maxSourceSide || w*h > maxSourcePixels {
		return 0, fmt.Errorf("image of %dx%d pixels is out of bounds", w, h)
	}
	perPixel := int64(8) // unknown models: assume 16-bit RGBA
	if _, ok := cfg.ColorModel.(color.Palette); ok {
		perPixel = 1
	} else {
		switch cfg.ColorModel {
		case color.GrayModel:
			perPixel = 1
		case color.Gray16Model:
			perPixel = 2
		case color.YCbCrModel:
			perPixel = 3
		case color.RGBAModel, color.NRGBAModel:
			perPixel = 4
		case color.CMYKModel:
			perPixel = 8 // YCbCr and K planes, then CMYK
		}
	}
	switch {
	case format == "jpeg" && jpegProgressive(data):
		perPixel += 16 // coefficients kept for every block until the last scan
	case format == "png" && len(data) > 28 && data[28] == 1:
		perPixel *= 2 // Adam7 passes are decoded apart, then merged
	}
	need := w * h * perPixel
	if need > decodeBudget {
		return 0, fmt.Errorf("image of %dx%d pixels needs about %d MiB to decode, more than %d", w, h, need>>20, decodeBudget>>20)
	}
	return need, nil
}

// jpegProgressive reports whether a JPEG's frame is progressive, reading
// its markers up to the first frame header.
func jpegProgressive(data []byte) bool {
	for i := 2; i+4 <= len(data); {
		if data[i] != 0xFF {
			return false
		}
		m := data[i+1]
		switch {
		case m == 0xFF: // fill byte
			i++
			continue
		case m == 0xC2 || m == 0xC6 || m == 0xCA || m == 0xCE:
			return true
		case m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC, m == 0xDA, m == 0xD9:
			return false
		case m == 0x01 || m >= 0xD0 && m <= 0xD7:
			i += 2
			continue
		}
		i += 2 + (int(data[i+2])<<8 | int(data[i+3]))
	}
	return false
}

// decodeImage decodes a JPEG, PNG or GIF already checked by imageCost.
func decodeImage(data []byte) (image.Image, error) {
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("decode image: %w", err)
	}
	return img, nil
}

// reduce returns src laid over white and scaled down, keeping its aspect
// ratio, so that neither side exceeds maxAvatarSide. A smaller image keeps
// its size. The source is read a row at a time: the only buffers are the
// result and a few rows.
func reduce(src image.Image) *image.RGBA {
	b := src.Bounds()
	sw, sh := b.Dx(), b.Dy()
	w, h := sw, sh
	if long := max(sw, sh); long > maxAvatarSide {
		s := float64(maxAvatarSide) / float64(long)
		w = min(max(1, int(math.Round(float64(sw)*s))), maxAvatarSide)
		h = min(max(1, int(math.Round(float64(sh)*s))), maxAvatarSide)
	}
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	resample(dst, src, b)
	return dst
}

// cover returns src laid over white, cropped around its centre to the
// aspect ratio of w by h and scaled to exactly w by h, so that nothing is
// stretched.
func cover(src image.Image, w, h int) *image.RGBA {
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	resample(dst, src, coverCrop(src.Bounds(), w, h))
	return dst
}

// coverCrop returns the largest rectangle of b, centred, with the aspect
// ratio of w by h.
func coverCrop(b image.Rectangle, w, h int) image.Rectangle {
	sw, sh := b.Dx(), b.Dy()
	switch {
	case int64(sw)*int64(h) > int64(sh)*int64(w): // wider than asked
		cw := min(max(1, int(math.Round(float64(sh)*float64(w)/float64(h)))), sw)
		x := b.Min.X + (sw-cw)/2
		return image.Rect(x, b.Min.Y, x+cw, b.Max.Y)
	case int64(sw)*int64(h) < int64(sh)*int64(w): // taller than asked
		ch := min(max(1, int(math.Round(float64(sw)*float64(h)/float64(w)))), sh)
		y := b.Min.Y + (sh-ch)/2
		return image.Rect(b.Min.X, y, b.Max.X, y+ch)
	}
	return b
}

// axis holds, for each destination position along one side, the source
// positions and weights that make it: averaging the covered source pixels
// when shrinking, interpolating linearly between two when growing.
type axis struct {
	first  []int     // first source position per destination position
	offset []int     // weights of position i are weights[offset[i]:offset[i+1]]
	weight []float32 // each position's weights sum to 1
}

func newAxis(from, length, n int) axis {
	a := axis{first: make([]int, n), offset: make([]int, n+1)}
	scale := float64(length) / float64(n)
	if scale > 1 {
		a.weight = make([]float32, 0, length+n)
	} else {
		a.weight = make([]float32, 0, 2*n)
	}
	for i := 0; i < n; i++ {
		a.offset[i] = len(a.weight)
		if scale > 1 {
			lo, hi := float64(i)*scale, float64(i+1)*scale
			k0, k1 := int(lo), min(int(math.Ceil(hi)), length)
			a.first[i] = from + k0
			for k := k0; k < k1; k++ {
				part := min(hi, float64(k+1)) - max(lo, float64(k))
				a.weight = append(a.weight, float32(max(part, 0)/scale))
			}
			continue
		}
		c := min(max((float64(i)+0.5)*scale-0.5, 0), float64(length-1))
		k := int(c)
		f := c - float64(k)
		a.first[i] = from + k
		if f == 0 || k >= length-1 {
			a.weight = append(a.weight, 1)
		} else {
			a.weight = append(a.weight, float32(1-f), float32(f))
		}
	}
	a.offset[n] = len(a.weight)
	return a
}

// resample fills dst from the crop rectangle of src, laid over white:
// separable area averaging when shrinking, bilinear when growing. Source
// rows are read one at a time and kept two at a time, each reduced to the
// destination's width, so memory does not grow with the source.
func resample(dst *image.RGBA, src image.Image, crop image.Rectangle) {
	w, h := dst.Rect.Dx(), dst.Rect.Dy()
	xs := newAxis(crop.Min.X, crop.Dx(), w)
	ys := newAxis(crop.Min.Y, crop.Dy(), h)
	rgba, direct := src.(*image.RGBA)
	var line *image.RGBA
	if !direct {
		line = image.NewRGBA(image.Rect(0, 0, crop.Dx(), 1))
	}
	// Two source rows, already scaled to the destination's width.
	var rows [2][]float32
	rowY := [2]int{-1, -1}
	for i := range rows {
		rows[i] = make([]float32, w*3)
	}
	row := func(y int) []float32 {
		slot := y & 1
		if rowY[slot] == y {
			return rows[slot]
		}
		var pix []byte // premultiplied RGBA from crop.Min.X
		if direct {
			o := rgba.PixOffset(crop.Min.X, y)
			pix = rgba.Pix[o : o+crop.Dx()*4]
		} else {
			draw.Draw(line, line.Rect, src, image.Pt(crop.Min.X, y), draw.Src)
			pix = line.Pix
		}
		out := rows[slot]
		for i := 0; i < w; i++ {
			var r, g, b float32
			p := (xs.first[i] - crop.Min.X) * 4
			for _, wt := range xs.weight[xs.offset[i]:xs.offset[i+1]] {
				white := float32(255 - pix[p+3]) // over white: c + (1-a)·255
				r += wt * (float32(pix[p]) + white)
				g += wt * (float32(pix[p+1]) + white)
				b += wt * (float32(pix[p+2]) + white)
				p += 4
			}
			out[i*3], out[i*3+1], out[i*3+2] = r, g, b
		}
		rowY[slot] = y
		return out
	}
	acc := make([]float32, w*3)
	for j := 0; j < h; j++ {
		clear(acc)
		y := ys.first[j]
		for _, wt := range ys.weight[ys.offset[j]:ys.offset[j+1]] {
			for i, v := range row(y) {
				acc[i] += wt * v
			}
			y++
		}
		o := dst.PixOffset(dst.Rect.Min.X, dst.Rect.Min.Y+j)
		out := dst.Pix[o : o+w*4]
		for i := 0; i < w; i++ {
			out[i*4] = clampByte(acc[i*3])
			out[i*4+1] = clampByte(acc[i*3+1])
			out[i*4+2] = clampByte(acc[i*3+2])
			out[i*4+3] = 255
		}
	}
}

func clampByte(v float32) uint8 {
	return uint8(min(max(v+0.5, 0), 255))
}
