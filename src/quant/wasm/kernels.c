/*
 * WebAssembly SIMD (simd128) versions of the codec's hot loops, bit-identical to the JavaScript
 * kernels in ../fp16-kernels.ts, ../ranges.ts, ../encode-kernels.ts and ../decode-kernels.ts
 * (those stay the reference and the fallback; kernels.test.ts holds the two to the same bits).
 *
 * Exactness: every expression is the JavaScript one, lane by lane. Codes are
 * trunc(double(x)·mul + add) and decoded values float32(base + double(q)·scale), each operation
 * rounded in float64 like V8 does (wasm has no fused multiply-add in simd128, and the build
 * passes -ffp-contract=off so the scalar tails are not fused either). Ranges use integer keys or
 * compare-and-select (f32x4.pmin/pmax are exactly `v < m ? v : m`), so ties between +0 and -0 and
 * NaN handling match the JavaScript branches. Scalar tails repeat the same arithmetic.
 *
 * All pointers are offsets into this module's memory; the TypeScript side (kernels.ts) copies
 * inputs in and outputs out. Built by scripts/build-wasm.sh.
 */
#include <stdint.h>
#include <wasm_simd128.h>

#define EXPORT(name) __attribute__((export_name(#name)))
typedef v128_t V;

static inline float f32_of(uint32_t b) { return __builtin_bit_cast(float, b); }
static inline uint32_t bits_of(float f) { return __builtin_bit_cast(uint32_t, f); }

/* ---------------------------------------------------------------- fp16 */

/*
 * float32 -> fp16, round to nearest even. Normal halves: the rebiased bits plus 0xfff plus the
 * lowest kept bit, shifted right by 13 (as fp16-kernels.ts). Subnormal halves (|x| < 2^-14):
 * |x| + 0.5f rounds |x| to a multiple of 2^-24 (the float32 ulp at 0.5 and the fp16 subnormal
 * step) with the hardware's round-to-nearest-even, and the low bits of the sum are the half.
 * A magnitude at or above 0x477ff000 (65520 and up, Inf, NaN) would give an exponent of 31: bad.
 */
#define HALF_BAD 0x477ff000u

static inline uint32_t half1(uint32_t b) {
  uint32_t a = b & 0x7fffffffu;
  uint32_t h = a >= 0x38800000u ? (a - 0x38000000u + 0xfffu + ((a >> 13) & 1u)) >> 13
                                : bits_of(f32_of(a) + 0.5f) - 0x3f000000u;
  return h | ((b >> 16) & 0x8000u);
}

static inline V half4(V b, V *bad) {
  V a = wasm_v128_and(b, wasm_i32x4_splat(0x7fffffff));
  V normal = wasm_u32x4_shr(wasm_i32x4_add(wasm_i32x4_sub(a, wasm_i32x4_splat(0x38000000 - 0xfff)),
                                           wasm_v128_and(wasm_u32x4_shr(a, 13), wasm_i32x4_splat(1))), 13);
  V sub = wasm_i32x4_sub(wasm_f32x4_add(a, wasm_f32x4_splat(0.5f)), wasm_i32x4_splat(0x3f000000));
  V h = wasm_v128_bitselect(normal, sub, wasm_i32x4_ge(a, wasm_i32x4_splat(0x38800000)));
  *bad = wasm_v128_or(*bad, wasm_i32x4_ge(a, wasm_i32x4_splat((int32_t)HALF_BAD)));
  return wasm_v128_or(h, wasm_v128_and(wasm_u32x4_shr(b, 16), wasm_i32x4_splat(0x8000)));
}

/** n float32 bit patterns -> n halves. Returns -1 or the index of the first bad value. */
EXPORT(f32_to_f16) int32_t f32_to_f16(const uint32_t *src, uint16_t *dst, int32_t n) {
  int32_t i = 0;
  for (; i + 8 <= n; i += 8) {
    V bad = wasm_i32x4_splat(0);
    V h0 = half4(wasm_v128_load(src + i), &bad);
    V h1 = half4(wasm_v128_load(src + i + 4), &bad);
    if (wasm_v128_any_true(bad)) break; // the scalar loop finds which one
    wasm_v128_store(dst + i, wasm_u16x8_narrow_i32x4(h0, h1));
  }
  for (; i < n; i++) {
    if ((src[i] & 0x7fffffffu) >= HALF_BAD) return i;
    dst[i] = (uint16_t)half1(src[i]);
  }
  return -1;
}

/* fp16 -> float32, exact: normal halves by shifting the bits, zero and subnormals as m·2^-24. */
static inline uint32_t float1(uint32_t h) {
  uint32_t sign = (h & 0x8000u) << 16;
  if ((h & 0x7c00u) == 0) return bits_of((float)(int32_t)(h & 0x3ffu) * 0x1p-24f) | sign;
  return sign | (((h & 0x7fffu) << 13) + 0x38000000u);
}

static inline V float4(V h, V *bad) {
  V e = wasm_v128_and(h, wasm_i32x4_splat(0x7c00));
  *bad = wasm_v128_or(*bad, wasm_i32x4_eq(e, wasm_i32x4_splat(0x7c00)));
  V normal = wasm_i32x4_add(wasm_i32x4_shl(wasm_v128_and(h, wasm_i32x4_splat(0x7fff)), 13), wasm_i32x4_splat(0x38000000));
  V sub = wasm_f32x4_mul(wasm_f32x4_convert_i32x4(wasm_v128_and(h, wasm_i32x4_splat(0x3ff))), wasm_f32x4_splat(0x1p-24f));
  V v = wasm_v128_bitselect(sub, normal, wasm_i32x4_eq(e, wasm_i32x4_splat(0)));
  return wasm_v128_or(v, wasm_i32x4_shl(wasm_v128_and(h, wasm_i32x4_splat(0x8000)), 16));
}

/** n halves -> n float32. Returns -1 or the index of the first Inf/NaN. */
EXPORT(f16_to_f32) int32_t f16_to_f32(const uint16_t *src, uint32_t *dst, int32_t n) {
  int32_t i = 0;
  for (; i + 8 <= n; i += 8) {
    V h = wasm_v128_load(src + i);
    V bad = wasm_i32x4_splat(0);
    V f0 = float4(wasm_u32x4_extend_low_u16x8(h), &bad);
    V f1 = float4(wasm_u32x4_extend_high_u16x8(h), &bad);
    if (wasm_v128_any_true(bad)) break;
    wasm_v128_store(dst + i, f0);
    wasm_v128_store(dst + i + 4, f1);
  }
  for (; i < n; i++) {
    if ((src[i] & 0x7c00u) == 0x7c00u) return i;
    dst[i] = float1(src[i]);
  }
  return -1;
}

/* ---------------------------------------------------------------- ranges (ranges.ts) */

/* Order key of a float32 bit pattern, shifted to 31 bits (see ranges.ts). */
static inline int32_t key31(int32_t b) { return (b ^ ((b >> 31) & 0x7fffffff)) >> 1; }
static inline V key31x4(V b) {
  return wasm_i32x4_shr(wasm_v128_xor(b, wasm_v128_and(wasm_i32x4_shr(b, 31), wasm_i32x4_splat(0x7fffffff))), 1);
}
static inline double key_to_float(int32_t k) { return (double)f32_of((uint32_t)(k ^ ((k >> 31) & 0x7fffffff))); }

static inline int32_t hmin(V v) {
  v = wasm_i32x4_min(v, wasm_i32x4_shuffle(v, v, 2, 3, 0, 1));
  v = wasm_i32x4_min(v, wasm_i32x4_shuffle(v, v, 1, 0, 3, 2));
  return wasm_i32x4_extract_lane(v, 0);
}
static inline int32_t hmax(V v) {
  v = wasm_i32x4_max(v, wasm_i32x4_shuffle(v, v, 2, 3, 0, 1));
  v = wasm_i32x4_max(v, wasm_i32x4_shuffle(v, v, 1, 0, 3, 2));
  return wasm_i32x4_extract_lane(v, 0);
}

/** runMinMax31: candidate lo/hi of `groups` runs of L values (integer min/max: any order gives the same). */
EXPORT(run_minmax) void run_minmax(const int32_t *bits, int32_t L, int32_t groups, double *lo, double *hi) {
  for (int32_t g = 0; g < groups; g++, bits += L) {
    V mn = wasm_i32x4_splat(0x3fffffff), mx = wasm_i32x4_splat(-0x40000000);
    int32_t i = 0;
    for (; i + 4 <= L; i += 4) {
      V k = key31x4(wasm_v128_load(bits + i));
      mn = wasm_i32x4_min(mn, k);
      mx = wasm_i32x4_max(mx, k);
    }
    int32_t m = hmin(mn), M = hmax(mx);
    for (; i < L; i++) {
      int32_t k = key31(bits[i]);
      if (k < m) m = k;
      if (k > M) M = k;
    }
    lo[g] = key_to_float(m * 2);
    hi[g] = key_to_float(M * 2 + 1);
  }
}

/** runAbsMax: hi = max |x| (as integer bit patterns), lo = -hi. */
EXPORT(run_absmax) void run_absmax(const int32_t *bits, int32_t L, int32_t groups, double *lo, double *hi) {
  for (int32_t g = 0; g < groups; g++, bits += L) {
    V mx = wasm_i32x4_splat(0);
    int32_t i = 0;
    for (; i + 4 <= L; i += 4) mx = wasm_i32x4_max(mx, wasm_v128_and(wasm_v128_load(bits + i), wasm_i32x4_splat(0x7fffffff)));
    int32_t M = hmax(mx);
    for (; i < L; i++) if ((bits[i] & 0x7fffffff) > M) M = bits[i] & 0x7fffffff;
    double v = (double)f32_of((uint32_t)M);
    hi[g] = v;
    lo[g] = -v;
  }
}

/** Eight float32 lanes (a, then b) widened to float64 and stored at dst[0..8). */
static inline void store8_f64(double *dst, V a, V b) {
  wasm_v128_store(dst, wasm_f64x2_promote_low_f32x4(a));
  wasm_v128_store(dst + 2, wasm_f64x2_promote_low_f32x4(wasm_i32x4_shuffle(a, a, 2, 3, 0, 1)));
  wasm_v128_store(dst + 4, wasm_f64x2_promote_low_f32x4(b));
  wasm_v128_store(dst + 6, wasm_f64x2_promote_low_f32x4(wasm_i32x4_shuffle(b, b, 2, 3, 0, 1)));
}

/*
 * channelMinMax / channelAbsMax over every block of B rows: per column, rows in order, with
 * m = v < m ? v : m and M = M < v ? v : M (f32x4.pmin/pmax), which is what the JavaScript branches
 * compute (a NaN never replaces a bound; +0/-0 ties keep the earlier one). Returns 1 if a NaN was
 * seen. The scalar column tail repeats the JavaScript loop.
 */
EXPORT(ch_minmax) int32_t ch_minmax(const float *x, int32_t rows, int32_t cols, int32_t B, double *lo, double *hi) {
  V nan = wasm_i32x4_splat(0);
  int32_t bad = 0;
  for (int32_t r0 = 0; r0 < rows; r0 += B, lo += cols, hi += cols) {
    int32_t r1 = r0 + B < rows ? r0 + B : rows;
    int32_t c = 0;
    for (; c + 8 <= cols; c += 8) {
      const float *p = x + (int64_t)r0 * cols + c;
      V mn0 = wasm_v128_load(p), mn1 = wasm_v128_load(p + 4);
      V mx0 = mn0, mx1 = mn1;
      nan = wasm_v128_or(nan, wasm_v128_or(wasm_f32x4_ne(mn0, mn0), wasm_f32x4_ne(mn1, mn1)));
      for (int32_t r = r0 + 1; r < r1; r++) {
        p += cols;
        V v0 = wasm_v128_load(p), v1 = wasm_v128_load(p + 4);
        mn0 = wasm_f32x4_pmin(mn0, v0);
        mx0 = wasm_f32x4_pmax(mx0, v0);
        mn1 = wasm_f32x4_pmin(mn1, v1);
        mx1 = wasm_f32x4_pmax(mx1, v1);
        nan = wasm_v128_or(nan, wasm_v128_or(wasm_f32x4_ne(v0, v0), wasm_f32x4_ne(v1, v1)));
      }
      store8_f64(lo + c, mn0, mn1);
      store8_f64(hi + c, mx0, mx1);
    }
    for (; c < cols; c++) {
      float mn = x[(int64_t)r0 * cols + c], mx = mn;
      if (mn != mn) bad = 1;
      for (int32_t r = r0 + 1; r < r1; r++) {
        float v = x[(int64_t)r * cols + c];
        if (!(v >= mn)) {
          if (v < mn) mn = v;
          else bad = 1;
        } else if (v > mx) mx = v;
      }
      lo[c] = mn;
      hi[c] = mx;
    }
  }
  return bad | wasm_v128_any_true(nan);
}

/** hi = max |x| per column per block (starting from 0), lo = -hi. Returns 1 if a NaN was seen. */
EXPORT(ch_absmax) int32_t ch_absmax(const float *x, int32_t rows, int32_t cols, int32_t B, double *lo, double *hi) {
  V nan = wasm_i32x4_splat(0);
  int32_t bad = 0;
  for (int32_t r0 = 0; r0 < rows; r0 += B, lo += cols, hi += cols) {
    int32_t r1 = r0 + B < rows ? r0 + B : rows;
    int32_t c = 0;
    for (; c + 8 <= cols; c += 8) {
      const float *p = x + (int64_t)r0 * cols + c;
      V mx0 = wasm_f32x4_splat(0), mx1 = mx0;
      for (int32_t r = r0; r < r1; r++, p += cols) {
        V a0 = wasm_f32x4_abs(wasm_v128_load(p)), a1 = wasm_f32x4_abs(wasm_v128_load(p + 4));
        mx0 = wasm_f32x4_pmax(mx0, a0);
        mx1 = wasm_f32x4_pmax(mx1, a1);
        nan = wasm_v128_or(nan, wasm_v128_or(wasm_f32x4_ne(a0, a0), wasm_f32x4_ne(a1, a1)));
      }
      // -|x| is exact in float32, so negating before widening gives lo = -hi bit for bit.
      store8_f64(hi + c, mx0, mx1);
      store8_f64(lo + c, wasm_f32x4_neg(mx0), wasm_f32x4_neg(mx1));
    }
    for (; c < cols; c++) {
      float mx = 0;
      for (int32_t r = r0; r < r1; r++) {
        float a = __builtin_fabsf(x[(int64_t)r * cols + c]);
        if (!(a <= mx)) {
          if (a > mx) mx = a;
          else bad = 1;
        }
      }
      hi[c] = mx;
      lo[c] = -(double)mx;
    }
  }
  return bad | wasm_v128_any_true(nan);
}

/* ---------------------------------------------------------------- encode (encode-kernels.ts) */

/* Four codes trunc(x·k + b) in float64; k01/b01 for lanes 0-1, k23/b23 for lanes 2-3. */
static inline V q4(V x, V k01, V b01, V k23, V b23) {
  V lo = wasm_f64x2_add(wasm_f64x2_mul(wasm_f64x2_promote_low_f32x4(x), k01), b01);
  V hi = wasm_f64x2_add(wasm_f64x2_mul(wasm_f64x2_promote_low_f32x4(wasm_i32x4_shuffle(x, x, 2, 3, 0, 1)), k23), b23);
  return wasm_i32x4_shuffle(wasm_i32x4_trunc_sat_f64x2_zero(lo), wasm_i32x4_trunc_sat_f64x2_zero(hi), 0, 1, 4, 5);
}

/* 16 codes (each < 256) of x[0..16) as bytes; k[m], b[m] hold the constants of lanes 2m, 2m+1. */
static inline V codes16(const float *x, const V *k, const V *b) {
  V a = q4(wasm_v128_load(x), k[0], b[0], k[1], b[1]);
  V c = q4(wasm_v128_load(x + 4), k[2], b[2], k[3], b[3]);
  V d = q4(wasm_v128_load(x + 8), k[4], b[4], k[5], b[5]);
  V e = q4(wasm_v128_load(x + 12), k[6], b[6], k[7], b[7]);
  return wasm_u8x16_narrow_i16x8(wasm_u16x8_narrow_i32x4(a, c), wasm_u16x8_narrow_i32x4(d, e));
}

/* Stores 16 codes packed at `bits` bits, low bits first (pack.ts): 16, 8 or 4 bytes. */
static inline void store16(int32_t bits, V q, uint8_t *out) {
  if (bits == 8) {
    wasm_v128_store(out, q);
  } else if (bits == 4) { // u16 lane = even | odd << 8 -> even | odd << 4
    V w = wasm_v128_and(wasm_v128_or(q, wasm_u16x8_shr(q, 4)), wasm_i16x8_splat(0xff));
    wasm_v128_store64_lane(out, wasm_u8x16_narrow_i16x8(w, w), 0);
  } else { // u32 lane = q0 | q1 << 8 | q2 << 16 | q3 << 24 -> q0 | q1 << 2 | q2 << 4 | q3 << 6
    V t = wasm_v128_or(q, wasm_u32x4_shr(q, 6));
    t = wasm_v128_and(wasm_v128_or(t, wasm_u32x4_shr(t, 12)), wasm_i32x4_splat(0xff));
    V h = wasm_u16x8_narrow_i32x4(t, t);
    wasm_v128_store32_lane(out, wasm_u8x16_narrow_i16x8(h, h), 0);
  }
}

static inline int32_t code1(float x, double k, double b) { return (int32_t)((double)x * k + b); }

/** Contiguous runs (runs8/4/2): `groups` runs of L values, L·bits a multiple of 8. */
EXPORT(enc_runs) void enc_runs(int32_t bits, const float *x, const double *mul, const double *add,
                               int32_t L, int32_t groups, uint8_t *out) {
  int32_t per = 8 / bits; // codes per byte
  for (int32_t g = 0; g < groups; g++) {
    double kg = mul[g], bg = add[g];
    V k[8], b[8];
    for (int m = 0; m < 8; m++) { k[m] = wasm_f64x2_splat(kg); b[m] = wasm_f64x2_splat(bg); }
    int32_t i = 0;
    for (; i + 16 <= L; i += 16, x += 16, out += 2 * bits) store16(bits, codes16(x, k, b), out);
    for (; i < L; i += per, x += per) {
      int32_t byte = 0;
      for (int32_t t = 0; t < per; t++) byte |= code1(x[t], kg, bg) << (t * bits);
      *out++ = (uint8_t)byte;
    }
  }
}

/** Per channel (channels8/4/2): rows in blocks of B rows, constants at block·cols + c; cols·bits a multiple of 8. */
EXPORT(enc_channels) void enc_channels(int32_t bits, const float *x, const double *mul, const double *add,
                                       int32_t rows, int32_t cols, int32_t B, uint8_t *out) {
  int32_t per = 8 / bits;
  for (int32_t r = 0; r < rows; r++) {
    const double *kr = mul + (r / B) * cols, *br = add + (r / B) * cols;
    int32_t c = 0;
    for (; c + 16 <= cols; c += 16, x += 16, out += 2 * bits) {
      V k[8], b[8];
      for (int m = 0; m < 8; m++) { k[m] = wasm_v128_load(kr + c + 2 * m); b[m] = wasm_v128_load(br + c + 2 * m); }
      store16(bits, codes16(x, k, b), out);
    }
    for (; c < cols; c += per, x += per) {
      int32_t byte = 0;
      for (int32_t t = 0; t < per; t++) byte |= code1(x[t], kr[c + t], br[c + t]) << (t * bits);
      *out++ = (uint8_t)byte;
    }
  }
}

/* ---------------------------------------------------------------- decode (decode-kernels.ts) */

/* Four values float32(z + q·s) in float64; s01/z01 for lanes 0-1, s23/z23 for lanes 2-3. */
static inline V dq4(V q, V s01, V z01, V s23, V z23) {
  V lo = wasm_f64x2_add(z01, wasm_f64x2_mul(wasm_f64x2_convert_low_i32x4(q), s01));
  V hi = wasm_f64x2_add(z23, wasm_f64x2_mul(wasm_f64x2_convert_low_i32x4(wasm_i32x4_shuffle(q, q, 2, 3, 0, 1)), s23));
  return wasm_i32x4_shuffle(wasm_f32x4_demote_f64x2_zero(lo), wasm_f32x4_demote_f64x2_zero(hi), 0, 1, 4, 5);
}

/* The 16 codes (one per byte) of the next 2·bits packed bytes. */
static inline V load16(int32_t bits, const uint8_t *codes) {
  if (bits == 8) return wasm_v128_load(codes);
  if (bits == 4) {
    V v = wasm_v128_load64_zero(codes);
    return wasm_i8x16_shuffle(wasm_v128_and(v, wasm_i8x16_splat(15)), wasm_u8x16_shr(v, 4),
                              0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  }
  // Each byte four times; lane j keeps bits 2·(j & 3) of it via a multiply by 2^(6 - 2·(j & 3)), >> 6.
  V v = wasm_v128_load32_zero(codes);
  V rep = wasm_i8x16_shuffle(v, v, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
  V lo = wasm_i16x8_mul(wasm_u16x8_extend_low_u8x16(rep), wasm_i16x8_make(64, 16, 4, 1, 64, 16, 4, 1));
  V hi = wasm_i16x8_mul(wasm_u16x8_extend_high_u8x16(rep), wasm_i16x8_make(64, 16, 4, 1, 64, 16, 4, 1));
  lo = wasm_v128_and(wasm_u16x8_shr(lo, 6), wasm_i16x8_splat(3));
  hi = wasm_v128_and(wasm_u16x8_shr(hi, 6), wasm_i16x8_splat(3));
  return wasm_u8x16_narrow_i16x8(lo, hi);
}

static inline void values16(V q, const V *s, const V *z, float *out) {
  V a = wasm_u16x8_extend_low_u8x16(q), b = wasm_u16x8_extend_high_u8x16(q);
  wasm_v128_store(out, dq4(wasm_u32x4_extend_low_u16x8(a), s[0], z[0], s[1], z[1]));
  wasm_v128_store(out + 4, dq4(wasm_u32x4_extend_high_u16x8(a), s[2], z[2], s[3], z[3]));
  wasm_v128_store(out + 8, dq4(wasm_u32x4_extend_low_u16x8(b), s[4], z[4], s[5], z[5]));
  wasm_v128_store(out + 12, dq4(wasm_u32x4_extend_high_u16x8(b), s[6], z[6], s[7], z[7]));
}

static inline float value1(int32_t q, double s, double z) { return (float)(z + (double)q * s); }

/** Contiguous runs: `groups` runs of L values, L·bits a multiple of 8. */
EXPORT(dec_runs) void dec_runs(int32_t bits, const uint8_t *codes, const double *scale, const double *base,
                               int32_t L, int32_t groups, float *out) {
  int32_t per = 8 / bits, mask = (1 << bits) - 1;
  for (int32_t g = 0; g < groups; g++) {
    double sg = scale[g], zg = base[g];
    V s[8], z[8];
    for (int m = 0; m < 8; m++) { s[m] = wasm_f64x2_splat(sg); z[m] = wasm_f64x2_splat(zg); }
    int32_t i = 0;
    for (; i + 16 <= L; i += 16, out += 16, codes += 2 * bits) values16(load16(bits, codes), s, z, out);
    for (; i < L; i += per, codes++) {
      for (int32_t t = 0; t < per; t++) *out++ = value1((*codes >> (t * bits)) & mask, sg, zg);
    }
  }
}

/** Per channel: rows in blocks of B rows, constants at block·cols + c; cols·bits a multiple of 8. */
EXPORT(dec_channels) void dec_channels(int32_t bits, const uint8_t *codes, const double *scale, const double *base,
                                       int32_t rows, int32_t cols, int32_t B, float *out) {
  int32_t per = 8 / bits, mask = (1 << bits) - 1;
  for (int32_t r = 0; r < rows; r++) {
    const double *sr = scale + (r / B) * cols, *zr = base + (r / B) * cols;
    int32_t c = 0;
    for (; c + 16 <= cols; c += 16, out += 16, codes += 2 * bits) {
      V s[8], z[8];
      for (int m = 0; m < 8; m++) { s[m] = wasm_v128_load(sr + c + 2 * m); z[m] = wasm_v128_load(zr + c + 2 * m); }
      values16(load16(bits, codes), s, z, out);
    }
    for (; c < cols; c += per, codes++) {
      for (int32_t t = 0; t < per; t++) *out++ = value1((*codes >> (t * bits)) & mask, sr[c + t], zr[c + t]);
    }
  }
}

/* ---------------------------------------------------------------- scales (params.ts) */

/* Exact value of fp16 bits h (util/fp16's halfToFloat; params.ts reads it from a table). */
static inline double half_value(uint32_t h) {
  uint32_t sign = (h & 0x8000u) << 16, e = h & 0x7c00u;
  if (e == 0) return (double)f32_of(bits_of((float)(int32_t)(h & 0x3ffu) * 0x1p-24f) | sign);
  if (e == 0x7c00u) return (double)f32_of(sign | 0x7f800000u | ((h & 0x3ffu) << 13));
  return (double)f32_of(sign | (((h & 0x7fffu) << 13) + 0x38000000u));
}

/* util/fp16's floatToHalf: the double rounded to float32, then to fp16 (nearest even). */
static uint32_t float_to_half(double value) {
  uint32_t x = bits_of((float)value);
  uint32_t sign = (x >> 16) & 0x8000u, exp = (x >> 23) & 0xffu, mant = x & 0x7fffffu;
  if (exp == 0xff) return sign | 0x7c00u | (mant ? 0x200u | (mant >> 13) : 0);
  int32_t e = (int32_t)exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00u;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000u;
    int32_t shift = 14 - e;
    uint32_t half = 1u << (shift - 1), rest = mant & ((1u << shift) - 1), h = mant >> shift;
    if (rest > half || (rest == half && (h & 1))) h += 1;
    return sign | h;
  }
  uint32_t h = ((uint32_t)e << 10) | (mant >> 13), rest = mant & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1))) h += 1;
  return sign | h;
}

static uint32_t half_at_least(double x) {
  if (x == 0) return 0;
  uint32_t h = float_to_half(x);
  return half_value(h) < x ? h + 1 : h;
}

static uint32_t half_at_most(double x) {
  if (x == 0) return 0;
  uint32_t h = float_to_half(x);
  if (!(half_value(h) > x)) return h;
  return h & 0x8000u ? h + 1 : h == 0 ? 0x8001u : h - 1;
}

/* 2^(max(e, 1) - 25): the distance between adjacent halves with exponent field e. */
static inline double half_step(uint32_t e) {
  return __builtin_bit_cast(double, (uint64_t)((e > 1 ? (int32_t)e : 1) - 25 + 1023) << 52);
}

static int candidate_matters(double mn, double mx, uint32_t zh, uint32_t sh, double qmax) {
  double z = half_value(zh);
  uint32_t ez = (zh >> 10) & 0x1fu;
  double up = (zh & 0x8000u) && (zh & 0x3ffu) == 0 && ez > 1 ? half_step(ez - 1) : half_step(ez);
  if (z + up - mn <= __builtin_fabs(mn) * 0x1p-22 + 0x1p-140) return 1;
  if (sh == 0) return 0;
  uint32_t es = sh >> 10;
  double prev = half_value(sh) - ((sh & 0x3ffu) == 0 && es > 1 ? half_step(es - 1) : half_step(es));
  return prev >= (mx - z) / qmax - (__builtin_fabs(mx) * 0x1p-22 + 0x1p-140) / qmax;
}

static void exact_run(const float *x, int32_t L, double *mnOut, double *mxOut) {
  float mn = x[0], mx = x[0];
  int bad = mn != mn;
  for (int32_t i = 1; i < L; i++) {
    float v = x[i];
    if (!(v >= mn)) {
      if (v < mn) mn = v;
      else bad = 1;
    } else if (v > mx) mx = v;
  }
  *mnOut = bad ? __builtin_nan("") : mn;
  *mxOut = mx;
}

/*
 * encodeParams' per-group loop, from the ranges in lo/hi (approx: they are run_minmax's
 * candidates over runs of L values of x). Returns -1, or the first group for which encodeParams
 * throws (non-finite range, fp16 overflow): the caller reruns the JavaScript for its error.
 */
EXPORT(enc_params) int32_t enc_params(const float *x, int32_t approx, int32_t L, int32_t asym, int32_t nf4,
                                      double qmax, double offset, const double *lo, const double *hi, int32_t n,
                                      uint16_t *scales, uint16_t *zeros, double *mul, double *add) {
  for (int32_t g = 0; g < n; g++) {
    double mn = lo[g], mx = hi[g], z = 0;
    if (!__builtin_isfinite(mn) || !__builtin_isfinite(mx)) return g;
    uint32_t sh;
    if (asym) {
      uint32_t zh = half_at_most(mn);
      sh = half_at_least((mx - half_value(zh)) / qmax);
      if (approx && candidate_matters(mn, mx, zh, sh, qmax)) {
        exact_run(x + (int64_t)g * L, L, &mn, &mx);
        zh = half_at_most(mn);
        sh = half_at_least((mx - half_value(zh)) / qmax);
      }
      if ((zh & 0x7c00u) == 0x7c00u) return g;
      zeros[g] = (uint16_t)zh;
      z = half_value(zh);
    } else {
      sh = half_at_least(mx / qmax);
    }
    if ((sh & 0x7c00u) == 0x7c00u) return g;
    scales[g] = (uint16_t)sh;
    double s = half_value(sh);
    double k = s > 0 ? 1 / s : 0;
    mul[g] = nf4 ? 2048 * k : k;
    add[g] = nf4 ? 2048 : offset + 0.5 - z * k;
  }
  return -1;
}

/* ---------------------------------------------------------------- layout (engine/kv-buffer.ts) */

/**
 * Rows of `rows` tokens from KV heads, head-major (head h's rows at src + h·rows·D) to token-major
 * (dst row t·KV + h). Bit patterns are copied as integers, so every value (NaN included) is kept.
 */
EXPORT(heads_to_tokens) void heads_to_tokens(const uint32_t *src, uint32_t *dst, int32_t KV, int32_t rows, int32_t D) {
  for (int32_t h = 0; h < KV; h++) {
    for (int32_t t = 0; t < rows; t++) {
      const uint32_t *s = src + ((int64_t)h * rows + t) * D;
      uint32_t *d = dst + ((int64_t)t * KV + h) * D;
      int32_t i = 0;
      for (; i + 4 <= D; i += 4) wasm_v128_store(d + i, wasm_v128_load(s + i));
      for (; i < D; i++) d[i] = s[i];
    }
  }
}

/** decodeParams: scale = the fp16 scale, base = the fp16 zero point (asym) or -offset·scale. */
EXPORT(dec_params) void dec_params(const uint16_t *scales, const uint16_t *zeros, int32_t asym, int32_t n, double offset,
                                   double *scale, double *base) {
  for (int32_t g = 0; g < n; g++) {
    double s = half_value(scales[g]);
    scale[g] = s;
    base[g] = asym ? half_value(zeros[g]) : -offset * s;
  }
}
