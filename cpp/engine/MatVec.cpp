#include "MatVec.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#if defined(__x86_64__) || defined(_M_X64)
#define TONEMORPH_X86 1
#include <immintrin.h>
#endif

namespace tonemorph {

namespace {

using F32Kernel = void (*)(const float* w, int rows, int cols, int stride, const float* x, float* y);
// The int8 kernels take x already quantised to int16 (zero beyond cols, up to stride) and sum in int32:
//   y_r = scale_r * x_scale * sum_c q_rc xq_c
using I8Kernel = void (*)(const std::int8_t* w, const float* scales, int rows, int stride, const std::int16_t* xq,
                          float x_scale, float* y);

// x (cols values, non-finite ones counted as 0) to int16 against its peak: xq = round(x q_max / peak), zero
// up to stride; returns peak / q_max, the value of one step (0 when x is all zeros).
using Quantise = float (*)(const float* x, int cols, int stride, float q_max, std::int16_t* xq);

constexpr int kAlignFloats = 16;  // 64 bytes
constexpr int kAlignBytes = 64;

// --- portable ---------------------------------------------------------------------------------------------

void f32_portable(const float* w, int rows, int cols, int stride, const float* x, float* y) {
    for (int r = 0; r < rows; ++r) {
        const float* row = w + static_cast<std::size_t>(r) * stride;
        float acc[8] = {};
        int c = 0;
        for (; c + 8 <= cols; c += 8)
            for (int j = 0; j < 8; ++j) acc[j] += row[c + j] * x[c + j];
        float sum = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
        for (; c < cols; ++c) sum += row[c] * x[c];
        y[r] = sum;
    }
}

void i8_portable(const std::int8_t* w, const float* scales, int rows, int stride, const std::int16_t* xq, float x_scale,
                 float* y) {
    for (int r = 0; r < rows; ++r) {
        const std::int8_t* row = w + static_cast<std::size_t>(r) * stride;
        std::int32_t acc = 0;
        for (int c = 0; c < stride; ++c) acc += static_cast<std::int32_t>(row[c]) * xq[c];
        y[r] = scales[r] * x_scale * static_cast<float>(acc);
    }
}

float quantise_portable(const float* x, int cols, int stride, float q_max, std::int16_t* xq) {
    float peak = 0.0f;
    for (int c = 0; c < cols; ++c) {
        const float v = std::fabs(x[c]);
        peak = v > peak && v <= 3.4e38f ? v : peak;
    }
    const float to_q = peak > 0.0f ? q_max / peak : 0.0f;
    for (int c = 0; c < cols; ++c) {  // clamped: the peak itself may round a hair above q_max
        const float v = std::isfinite(x[c]) ? std::clamp(x[c] * to_q, -q_max, q_max) : 0.0f;
        xq[c] = static_cast<std::int16_t>(v >= 0.0f ? v + 0.5f : v - 0.5f);
    }
    std::fill(xq + cols, xq + stride, std::int16_t{0});
    return peak > 0.0f ? peak / q_max : 0.0f;
}

#if TONEMORPH_X86

// --- AVX2 + FMA: four rows at a time share each load of x ------------------------------------------------

__attribute__((target("avx2,fma"))) inline float hsum256(__m256 v) {
    const __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    const __m128 t = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(t, _mm_shuffle_ps(t, t, 1)));
}

__attribute__((target("avx2,fma"))) inline __m256 load8(const float* p) { return _mm256_load_ps(p); }

// Four rows at a time share each load of x, and each row keeps two accumulators (even and odd 8-column
// groups): eight independent FMA chains cover the FMA latency (4 cycles), where one per row left the units
// idle three cycles in four (measured: 7.8 multiply-adds per cycle in cache, 14 with two).
template <typename T>
__attribute__((target("avx2,fma"))) inline void rows_avx2(const T* w, int rows, int cols, int stride, const float* x,
                                                          float* y) {
    const int body = cols / 16 * 16;
    int r = 0;
    for (; r + 4 <= rows; r += 4) {
        const T* w0 = w + static_cast<std::size_t>(r) * stride;
        const T* w1 = w0 + stride;
        const T* w2 = w1 + stride;
        const T* w3 = w2 + stride;
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
        __m256 b0 = _mm256_setzero_ps(), b1 = _mm256_setzero_ps(), b2 = _mm256_setzero_ps(), b3 = _mm256_setzero_ps();
        for (int c = 0; c < body; c += 16) {
            const __m256 xa = _mm256_loadu_ps(x + c), xb = _mm256_loadu_ps(x + c + 8);
            a0 = _mm256_fmadd_ps(load8(w0 + c), xa, a0);
            a1 = _mm256_fmadd_ps(load8(w1 + c), xa, a1);
            a2 = _mm256_fmadd_ps(load8(w2 + c), xa, a2);
            a3 = _mm256_fmadd_ps(load8(w3 + c), xa, a3);
            b0 = _mm256_fmadd_ps(load8(w0 + c + 8), xb, b0);
            b1 = _mm256_fmadd_ps(load8(w1 + c + 8), xb, b1);
            b2 = _mm256_fmadd_ps(load8(w2 + c + 8), xb, b2);
            b3 = _mm256_fmadd_ps(load8(w3 + c + 8), xb, b3);
        }
        float s[4] = {hsum256(_mm256_add_ps(a0, b0)), hsum256(_mm256_add_ps(a1, b1)), hsum256(_mm256_add_ps(a2, b2)),
                      hsum256(_mm256_add_ps(a3, b3))};
        const T* rw[4] = {w0, w1, w2, w3};
        for (int c = body; c < cols; ++c)
            for (int j = 0; j < 4; ++j) s[j] += static_cast<float>(rw[j][c]) * x[c];
        for (int j = 0; j < 4; ++j) y[r + j] = s[j];
    }
    for (; r < rows; ++r) {
        const T* w0 = w + static_cast<std::size_t>(r) * stride;
        __m256 a0 = _mm256_setzero_ps(), b0 = _mm256_setzero_ps();
        for (int c = 0; c < body; c += 16) {
            a0 = _mm256_fmadd_ps(load8(w0 + c), _mm256_loadu_ps(x + c), a0);
            b0 = _mm256_fmadd_ps(load8(w0 + c + 8), _mm256_loadu_ps(x + c + 8), b0);
        }
        float s = hsum256(_mm256_add_ps(a0, b0));
        for (int c = body; c < cols; ++c) s += static_cast<float>(w0[c]) * x[c];
        y[r] = s;
    }
}

__attribute__((target("avx2,fma"))) void f32_avx2(const float* w, int rows, int cols, int stride, const float* x,
                                                  float* y) {
    rows_avx2(w, rows, cols, stride, x, y);
}

__attribute__((target("avx2,fma"))) float quantise_avx2(const float* x, int cols, int stride, float q_max,
                                                       std::int16_t* xq) {
    const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
    const __m256 largest = _mm256_set1_ps(3.4e38f);
    __m256 peak8 = _mm256_setzero_ps();
    int c = 0;
    for (; c + 8 <= cols; c += 8) {
        const __m256 v = _mm256_and_ps(_mm256_loadu_ps(x + c), abs_mask);
        peak8 = _mm256_max_ps(peak8, _mm256_and_ps(v, _mm256_cmp_ps(v, largest, _CMP_LE_OQ)));  // NaN, inf: 0
    }
    alignas(32) float lanes[8];
    _mm256_store_ps(lanes, peak8);
    float peak = 0.0f;
    for (float v : lanes) peak = std::max(peak, v);
    for (; c < cols; ++c) {
        const float v = std::fabs(x[c]);
        peak = v > peak && v <= 3.4e38f ? v : peak;
    }
    if (!(peak > 0.0f)) {
        std::fill(xq, xq + stride, std::int16_t{0});
        return 0.0f;
    }
    const __m256 to_q = _mm256_set1_ps(q_max / peak), hi = _mm256_set1_ps(q_max), lo = _mm256_set1_ps(-q_max);
    auto scaled = [&](const float* p) __attribute__((target("avx2,fma"))) {
        const __m256 v = _mm256_loadu_ps(p);
        const __m256 finite = _mm256_cmp_ps(_mm256_and_ps(v, abs_mask), largest, _CMP_LE_OQ);  // NaN, inf: 0
        return _mm256_min_ps(_mm256_max_ps(_mm256_mul_ps(_mm256_and_ps(v, finite), to_q), lo), hi);
    };
    c = 0;
    for (; c + 16 <= cols; c += 16) {
        // Clamped to +-q_max (the peak itself may round a hair above it), rounded to nearest, packed in order.
        const __m256i packed = _mm256_packs_epi32(_mm256_cvtps_epi32(scaled(x + c)), _mm256_cvtps_epi32(scaled(x + c + 8)));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(xq + c), _mm256_permute4x64_epi64(packed, 0xD8));
    }
    for (; c < cols; ++c) {
        const float v = std::isfinite(x[c]) ? std::clamp(x[c] * (q_max / peak), -q_max, q_max) : 0.0f;
        xq[c] = static_cast<std::int16_t>(std::nearbyint(v));
    }
    std::fill(xq + cols, xq + stride, std::int16_t{0});
    return peak / q_max;
}

// int8 weights widened to int16 against int16 x: vpmaddwd multiplies 16 pairs and adds neighbours into 8 int32
// (3 instructions per 16 multiply-adds, where widening to float took 3 per 8). Two accumulators per row.
__attribute__((target("avx2,fma"))) inline __m256i madd16(const std::int8_t* w, __m256i x) {
    return _mm256_madd_epi16(_mm256_cvtepi8_epi16(_mm_load_si128(reinterpret_cast<const __m128i*>(w))), x);
}

__attribute__((target("avx2,fma"))) inline std::int32_t hsum_epi32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
    return _mm_cvtsi128_si32(s);
}

__attribute__((target("avx2,fma"))) void i8_avx2(const std::int8_t* w, const float* scales, int rows, int stride,
                                                 const std::int16_t* xq, float x_scale, float* y) {
    int r = 0;
    for (; r + 4 <= rows; r += 4) {
        const std::int8_t* w0 = w + static_cast<std::size_t>(r) * stride;
        const std::int8_t* w1 = w0 + stride;
        const std::int8_t* w2 = w1 + stride;
        const std::int8_t* w3 = w2 + stride;
        __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
        for (int c = 0; c < stride; c += 32) {
            const __m256i xa = _mm256_load_si256(reinterpret_cast<const __m256i*>(xq + c));
            const __m256i xb = _mm256_load_si256(reinterpret_cast<const __m256i*>(xq + c + 16));
            a0 = _mm256_add_epi32(a0, madd16(w0 + c, xa));
            a1 = _mm256_add_epi32(a1, madd16(w1 + c, xa));
            a2 = _mm256_add_epi32(a2, madd16(w2 + c, xa));
            a3 = _mm256_add_epi32(a3, madd16(w3 + c, xa));
            b0 = _mm256_add_epi32(b0, madd16(w0 + c + 16, xb));
            b1 = _mm256_add_epi32(b1, madd16(w1 + c + 16, xb));
            b2 = _mm256_add_epi32(b2, madd16(w2 + c + 16, xb));
            b3 = _mm256_add_epi32(b3, madd16(w3 + c + 16, xb));
        }
        y[r] = scales[r] * x_scale * static_cast<float>(hsum_epi32(_mm256_add_epi32(a0, b0)));
        y[r + 1] = scales[r + 1] * x_scale * static_cast<float>(hsum_epi32(_mm256_add_epi32(a1, b1)));
        y[r + 2] = scales[r + 2] * x_scale * static_cast<float>(hsum_epi32(_mm256_add_epi32(a2, b2)));
        y[r + 3] = scales[r + 3] * x_scale * static_cast<float>(hsum_epi32(_mm256_add_epi32(a3, b3)));
    }
    for (; r < rows; ++r) {
        const std::int8_t* w0 = w + static_cast<std::size_t>(r) * stride;
        __m256i a0 = _mm256_setzero_si256();
        for (int c = 0; c < stride; c += 16)
            a0 = _mm256_add_epi32(a0, madd16(w0 + c, _mm256_load_si256(reinterpret_cast<const __m256i*>(xq + c))));
        y[r] = scales[r] * x_scale * static_cast<float>(hsum_epi32(a0));
    }
}

// --- AVX-512 --------------------------------------------------------------------------------------------

__attribute__((target("avx512f"))) inline __m512 load16(const float* p) { return _mm512_load_ps(p); }

template <typename T>
__attribute__((target("avx512f"))) inline void rows_avx512(const T* w, int rows, int cols, int stride,
                                                           const float* x, float* y) {
    const int body = cols / 32 * 32;
    int r = 0;
    for (; r + 4 <= rows; r += 4) {
        const T* w0 = w + static_cast<std::size_t>(r) * stride;
        const T* w1 = w0 + stride;
        const T* w2 = w1 + stride;
        const T* w3 = w2 + stride;
        __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps(), a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
        __m512 b0 = _mm512_setzero_ps(), b1 = _mm512_setzero_ps(), b2 = _mm512_setzero_ps(), b3 = _mm512_setzero_ps();
        for (int c = 0; c < body; c += 32) {
            const __m512 xa = _mm512_loadu_ps(x + c), xb = _mm512_loadu_ps(x + c + 16);
            a0 = _mm512_fmadd_ps(load16(w0 + c), xa, a0);
            a1 = _mm512_fmadd_ps(load16(w1 + c), xa, a1);
            a2 = _mm512_fmadd_ps(load16(w2 + c), xa, a2);
            a3 = _mm512_fmadd_ps(load16(w3 + c), xa, a3);
            b0 = _mm512_fmadd_ps(load16(w0 + c + 16), xb, b0);
            b1 = _mm512_fmadd_ps(load16(w1 + c + 16), xb, b1);
            b2 = _mm512_fmadd_ps(load16(w2 + c + 16), xb, b2);
            b3 = _mm512_fmadd_ps(load16(w3 + c + 16), xb, b3);
        }
        float s[4] = {_mm512_reduce_add_ps(_mm512_add_ps(a0, b0)), _mm512_reduce_add_ps(_mm512_add_ps(a1, b1)),
                      _mm512_reduce_add_ps(_mm512_add_ps(a2, b2)), _mm512_reduce_add_ps(_mm512_add_ps(a3, b3))};
        const T* rw[4] = {w0, w1, w2, w3};
        for (int c = body; c < cols; ++c)
            for (int j = 0; j < 4; ++j) s[j] += static_cast<float>(rw[j][c]) * x[c];
        for (int j = 0; j < 4; ++j) y[r + j] = s[j];
    }
    for (; r < rows; ++r) {
        const T* w0 = w + static_cast<std::size_t>(r) * stride;
        __m512 a0 = _mm512_setzero_ps(), b0 = _mm512_setzero_ps();
        for (int c = 0; c < body; c += 32) {
            a0 = _mm512_fmadd_ps(load16(w0 + c), _mm512_loadu_ps(x + c), a0);
            b0 = _mm512_fmadd_ps(load16(w0 + c + 16), _mm512_loadu_ps(x + c + 16), b0);
        }
        float s = _mm512_reduce_add_ps(_mm512_add_ps(a0, b0));
        for (int c = body; c < cols; ++c) s += static_cast<float>(w0[c]) * x[c];
        y[r] = s;
    }
}

// AVX-512 VNNI: vpdpwssd multiplies 32 int16 pairs and accumulates into 16 int32 in one instruction, where
// AVX2 needs a multiply-add and an add for 16: the same integers, the same results, 2.3x faster here.
__attribute__((target("avx512f,avx512bw,avx512vnni"))) inline __m512i widen32(const std::int8_t* w) {
    return _mm512_cvtepi8_epi16(_mm256_load_si256(reinterpret_cast<const __m256i*>(w)));
}

__attribute__((target("avx512f,avx512bw,avx512vnni"))) void i8_vnni(const std::int8_t* w, const float* scales, int rows,
                                                                    int stride, const std::int16_t* xq, float x_scale,
                                                                    float* y) {
    int r = 0;
    for (; r + 4 <= rows; r += 4) {
        const std::int8_t* w0 = w + static_cast<std::size_t>(r) * stride;
        const std::int8_t* w1 = w0 + stride;
        const std::int8_t* w2 = w1 + stride;
        const std::int8_t* w3 = w2 + stride;
        __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
        for (int c = 0; c < stride; c += 32) {
            const __m512i x = _mm512_load_si512(xq + c);
            a0 = _mm512_dpwssd_epi32(a0, x, widen32(w0 + c));
            a1 = _mm512_dpwssd_epi32(a1, x, widen32(w1 + c));
            a2 = _mm512_dpwssd_epi32(a2, x, widen32(w2 + c));
            a3 = _mm512_dpwssd_epi32(a3, x, widen32(w3 + c));
        }
        y[r] = scales[r] * x_scale * static_cast<float>(_mm512_reduce_add_epi32(a0));
        y[r + 1] = scales[r + 1] * x_scale * static_cast<float>(_mm512_reduce_add_epi32(a1));
        y[r + 2] = scales[r + 2] * x_scale * static_cast<float>(_mm512_reduce_add_epi32(a2));
        y[r + 3] = scales[r + 3] * x_scale * static_cast<float>(_mm512_reduce_add_epi32(a3));
    }
    for (; r < rows; ++r) {
        const std::int8_t* w0 = w + static_cast<std::size_t>(r) * stride;
        __m512i a0 = _mm512_setzero_si512();
        for (int c = 0; c < stride; c += 32) a0 = _mm512_dpwssd_epi32(a0, _mm512_load_si512(xq + c), widen32(w0 + c));
        y[r] = scales[r] * x_scale * static_cast<float>(_mm512_reduce_add_epi32(a0));
    }
}

__attribute__((target("avx512f"))) void f32_avx512(const float* w, int rows, int cols, int stride, const float* x,
                                                   float* y) {
    rows_avx512(w, rows, cols, stride, x, y);
}

#pragma GCC diagnostic pop

#endif  // TONEMORPH_X86

struct Kernels {
    const char* name;
    F32Kernel f32;
    I8Kernel i8;
    Quantise quantise;
};

Kernels portable_kernels() { return {"portable", f32_portable, i8_portable, quantise_portable}; }

bool cpu_has(const std::string& family) {
#if TONEMORPH_X86
    __builtin_cpu_init();
    if (family == "avx512vnni")
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vnni");
    if (family == "avx512") return __builtin_cpu_supports("avx512f");
    if (family == "avx2") return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
    return family == "portable";
}

Kernels kernels_for(const std::string& family) {
#if TONEMORPH_X86
    if (family == "avx512vnni") return {"avx512vnni", f32_avx512, i8_vnni, quantise_avx2};
    if (family == "avx512") return {"avx512", f32_avx512, i8_avx2, quantise_avx2};
    if (family == "avx2") return {"avx2", f32_avx2, i8_avx2, quantise_avx2};
#endif
    (void)family;
    return portable_kernels();
}

Kernels& active() {
    static Kernels k = cpu_has("avx512vnni") ? kernels_for("avx512vnni")
                       : cpu_has("avx512")   ? kernels_for("avx512")
                       : cpu_has("avx2") ? kernels_for("avx2")
                                         : portable_kernels();
    return k;
}

template <typename T>
T* aligned(std::vector<T>& v) {
    auto p = reinterpret_cast<std::uintptr_t>(v.data());
    return reinterpret_cast<T*>((p + kAlignBytes - 1) / kAlignBytes * kAlignBytes);
}
template <typename T>
const T* aligned(const std::vector<T>& v) {
    return aligned(const_cast<std::vector<T>&>(v));
}

}  // namespace

WeightMatrix::WeightMatrix(const float* w, int rows, int cols, WeightFormat format)
    : rows_(rows), cols_(cols), stride_((cols + 63) / 64 * 64), format_(format) {
    if (rows < 1 || cols < 1) throw std::invalid_argument("WeightMatrix: empty matrix");
    if (format == WeightFormat::Int8 && stride_ > kMaxInt8Cols) format_ = WeightFormat::Float32;  // no int16 room
    format = format_;
    q_max_ = static_cast<float>(std::min<long long>(32767, 2147483647LL / (127LL * stride_)));
    const std::size_t n = static_cast<std::size_t>(rows) * stride_;
    if (format == WeightFormat::Float32) {
        f32_.assign(n + kAlignFloats, 0.0f);
        float* base = aligned(f32_);
        for (int r = 0; r < rows; ++r)
            std::copy(w + static_cast<std::size_t>(r) * cols, w + static_cast<std::size_t>(r + 1) * cols,
                      base + static_cast<std::size_t>(r) * stride_);
    } else {
        // Symmetric per-row quantisation: scale_r = max_c |w_rc| / 127, q = round(w / scale_r).
        i8_.assign(n + kAlignBytes, 0);
        scales_.assign(static_cast<std::size_t>(rows), 0.0f);
        std::int8_t* base = aligned(i8_);
        for (int r = 0; r < rows; ++r) {
            const float* row = w + static_cast<std::size_t>(r) * cols;
            float peak = 0.0f;
            for (int c = 0; c < cols; ++c) peak = std::max(peak, std::fabs(row[c]));
            const float scale = peak / 127.0f;
            scales_[static_cast<std::size_t>(r)] = scale;
            if (scale == 0.0f) continue;
            for (int c = 0; c < cols; ++c)
                base[static_cast<std::size_t>(r) * stride_ + c] =
                    static_cast<std::int8_t>(std::clamp(std::lround(row[c] / scale), -127L, 127L));
        }
    }
}

std::size_t WeightMatrix::bytes() const {
    const std::size_t n = static_cast<std::size_t>(rows_) * stride_;
    return format_ == WeightFormat::Float32 ? n * sizeof(float) : n + scales_.size() * sizeof(float);
}

void WeightMatrix::multiply(const float* x, float* y) const {
    if (format_ == WeightFormat::Float32) {
        active().f32(aligned(f32_), rows_, cols_, stride_, x, y);
        return;
    }
    // x to int16 against its own peak; q_max keeps the int32 sums from overflowing: 127 q_max stride < 2^31.
    alignas(64) std::int16_t xq[kMaxInt8Cols];
    const float x_scale = active().quantise(x, cols_, stride_, q_max_, xq);
    active().i8(aligned(i8_), scales_.data(), rows_, stride_, xq, x_scale, y);
}

const char* WeightMatrix::kernel_name() { return active().name; }

bool WeightMatrix::use_kernel(const std::string& name) {
    if (!cpu_has(name)) return false;
    active() = kernels_for(name);
    return true;
}

}  // namespace tonemorph
