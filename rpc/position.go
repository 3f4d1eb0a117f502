package rpc

import (
	"encoding/binary"
	"math"
)

// Vector3 is a position in a space: X and Z span the ground plane (the
// area of interest is computed on them), Y is height. On the wire it is
// three float32s, little-endian.
type Vector3 struct {
	X, Y, Z float32
}

// Finite reports whether every coordinate is a finite number (not NaN or
// infinite). Positions from clients must be.
func (v Vector3) Finite() bool {
	return finite32(v.X) && finite32(v.Y) && finite32(v.Z)
}

func finite32(f float32) bool {
	return !math.IsNaN(float64(f)) && !math.IsInf(float64(f), 0)
}

// PositionSize is the wire size of a position and a yaw: x, y, z, yaw as
// float32 little-endian.
const PositionSize = 16

// AppendFloat32 appends v as its IEEE 754 bits, little-endian.
func AppendFloat32(dst []byte, v float32) []byte {
	return binary.LittleEndian.AppendUint32(dst, math.Float32bits(v))
}

// AppendPosition appends pos and yaw (PositionSize bytes).
func AppendPosition(dst []byte, pos Vector3, yaw float32) []byte {
	dst = AppendFloat32(dst, pos.X)
	dst = AppendFloat32(dst, pos.Y)
	dst = AppendFloat32(dst, pos.Z)
	return AppendFloat32(dst, yaw)
}

// Uint32 reads a little-endian uint32.
func (r *Reader) Uint32() uint32 {
	p := r.take(4)
	if p == nil {
		return 0
	}
	return binary.LittleEndian.Uint32(p)
}

// Float32 reads a little-endian IEEE 754 float32.
func (r *Reader) Float32() float32 { return math.Float32frombits(r.Uint32()) }

// Position reads a position and a yaw (PositionSize bytes).
func (r *Reader) Position() (Vector3, float32) {
	var v Vector3
	v.X, v.Y, v.Z = r.Float32(), r.Float32(), r.Float32()
	return v, r.Float32()
}

// Remaining returns how many bytes are left to read.
func (r *Reader) Remaining() int {
	if r.err != nil {
		return 0
	}
	return len(r.b) - r.off
}
