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
using I8Kernel = void (*)(const std::int8_t* w, const float* scales, int rows, int cols, int stride, const float* x,
                          float* y);

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

void i8_portable(const std::int8_t* w, const float* scales, int rows, int cols, int stride, const float* x,
                 float* y) {
    for (int r = 0; r < rows; ++r) {
        const std::int8_t* row = w + static_cast<std::size_t>(r) * stride;
        float acc[8] = {};
        int c = 0;
        for (; c + 8 <= cols; c += 8)
            for (int j = 0; j < 8; ++j) acc[j] += static_cast<float>(row[c + j]) * x[c + j];
        float sum = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
        for (; c < cols; ++c) sum += static_cast<float>(row[c]) * x[c];
        y[r] = scales[r] * sum;
    }
}

#if TONEMORPH_X86

// --- AVX2 + FMA: four rows at a time share each load of x ------------------------------------------------

__attribute__((target("avx2,fma"))) inline float hsum256(__m256 v) {
    const __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    const __m128 t = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(t, _mm_shuffle_ps(t, t, 1)));
}

// Eight weights as floats: loaded, or widened from int8.
__attribute__((target("avx2,fma"))) inline __m256 load8(const float* p) { return _mm256_load_ps(p); }
__attribute__((target("avx2,fma"))) inline __m256 load8(const std::int8_t* p) {
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
}

template <typename T>
__attribute__((target("avx2,fma"))) inline void rows_avx2(const T* w, int rows, int cols, int stride, const float* x,
                                                          float* y) {
    const int body = cols / 8 * 8;
    int r = 0;
    for (; r + 4 <= rows; r += 4) {
        const T* w0 = w + static_cast<std::size_t>(r) * stride;
        const T* w1 = w0 + stride;
        const T* w2 = w1 + stride;
        const T* w3 = w2 + stride;
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
        for (int c = 0; c < body; c += 8) {
            const __m256 xv = _mm256_loadu_ps(x + c);
            a0 = _mm256_fmadd_ps(load8(w0 + c), xv, a0);
            a1 = _mm256_fmadd_ps(load8(w1 + c), xv, a1);
            a2 = _mm256_fmadd_ps(load8(w2 + c), xv, a2);
            a3 = _mm256_fmadd_ps(load8(w3 + c), xv, a3);
        }
        float s[4] = {hsum256(a0), hsum256(a1), hsum256(a2), hsum256(a3)};
        const T* rw[4] = {w0, w1, w2, w3};
        for (int c = body; c < cols; ++c)
            for (int j = 0; j < 4; ++j) s[j] += static_cast<float>(rw[j][c]) * x[c];
        for (int j = 0; j < 4; ++j) y[r + j] = s[j];
    }
    for (; r < rows; ++r) {
        const T* w0 = w + static_cast<std::size_t>(r) * stride;
        __m256 a0 = _mm256_setzero_ps();
        for (int c = 0; c < body; c += 8) a0 = _mm256_fmadd_ps(load8(w0 + c), _mm256_loadu_ps(x + c), a0);
        float s = hsum256(a0);
        for (int c = body; c < cols; ++c) s += static_cast<float>(w0[c]) * x[c];
        y[r] = s;
    }
}

__attribute__((target("avx2,fma"))) void f32_avx2(const float* w, int rows, int cols, int stride, const float* x,
                                                  float* y) {
    rows_avx2(w, rows, cols, stride, x, y);
}

__attribute__((target("avx2,fma"))) void i8_avx2(const std::int8_t* w, const float* scales, int rows, int cols,
                                                 int stride, const float* x, float* y) {
    rows_avx2(w, rows, cols, stride, x, y);
    for (int r = 0; r < rows; ++r) y[r] *= scales[r];
}

// --- AVX-512 --------------------------------------------------------------------------------------------

// Sixteen weights as floats: loaded, or widened from int8. (GCC 12's own header trips its
// -Wmaybe-uninitialized on _mm512_cvtepi8_epi32's undefined pass-through operand.)
__attribute__((target("avx512f"))) inline __m512 load16(const float* p) { return _mm512_load_ps(p); }
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
__attribute__((target("avx512f"))) inline __m512 load16(const std::int8_t* p) {
    return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_load_si128(reinterpret_cast<const __m128i*>(p))));
}

template <typename T>
__attribute__((target("avx512f"))) inline void rows_avx512(const T* w, int rows, int cols, int stride,
                                                           const float* x, float* y) {
    const int body = cols / 16 * 16;
    int r = 0;
    for (; r + 4 <= rows; r += 4) {
        const T* w0 = w + static_cast<std::size_t>(r) * stride;
        const T* w1 = w0 + stride;
        const T* w2 = w1 + stride;
        const T* w3 = w2 + stride;
        __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps(), a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
        for (int c = 0; c < body; c += 16) {
            const __m512 xv = _mm512_loadu_ps(x + c);
            a0 = _mm512_fmadd_ps(load16(w0 + c), xv, a0);
            a1 = _mm512_fmadd_ps(load16(w1 + c), xv, a1);
            a2 = _mm512_fmadd_ps(load16(w2 + c), xv, a2);
            a3 = _mm512_fmadd_ps(load16(w3 + c), xv, a3);
        }
        float s[4] = {_mm512_reduce_add_ps(a0), _mm512_reduce_add_ps(a1), _mm512_reduce_add_ps(a2),
                      _mm512_reduce_add_ps(a3)};
        const T* rw[4] = {w0, w1, w2, w3};
        for (int c = body; c < cols; ++c)
            for (int j = 0; j < 4; ++j) s[j] += static_cast<float>(rw[j][c]) * x[c];
        for (int j = 0; j < 4; ++j) y[r + j] = s[j];
    }
    for (; r < rows; ++r) {
        const T* w0 = w + static_cast<std::size_t>(r) * stride;
        __m512 a0 = _mm512_setzero_ps();
        for (int c = 0; c < body; c += 16) a0 = _mm512_fmadd_ps(load16(w0 + c), _mm512_loadu_ps(x + c), a0);
        float s = _mm512_reduce_add_ps(a0);
        for (int c = body; c < cols; ++c) s += static_cast<float>(w0[c]) * x[c];
        y[r] = s;
    }
}

__attribute__((target("avx512f"))) void f32_avx512(const float* w, int rows, int cols, int stride, const float* x,
                                                   float* y) {
    rows_avx512(w, rows, cols, stride, x, y);
}

__attribute__((target("avx512f"))) void i8_avx512(const std::int8_t* w, const float* scales, int rows, int cols,
                                                  int stride, const float* x, float* y) {
    rows_avx512(w, rows, cols, stride, x, y);
    for (int r = 0; r < rows; ++r) y[r] *= scales[r];
}
#pragma GCC diagnostic pop

#endif  // TONEMORPH_X86

struct Kernels {
    const char* name;
    F32Kernel f32;
    I8Kernel i8;
};

Kernels portable_kernels() { return {"portable", f32_portable, i8_portable}; }

bool cpu_has(const std::string& family) {
#if TONEMORPH_X86
    __builtin_cpu_init();
    if (family == "avx512") return __builtin_cpu_supports("avx512f");
    if (family == "avx2") return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
    return family == "portable";
}

Kernels kernels_for(const std::string& family) {
#if TONEMORPH_X86
    if (family == "avx512") return {"avx512", f32_avx512, i8_avx512};
    if (family == "avx2") return {"avx2", f32_avx2, i8_avx2};
#endif
    (void)family;
    return portable_kernels();
}

Kernels& active() {
    static Kernels k = cpu_has("avx512") ? kernels_for("avx512")
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
    if (format_ == WeightFormat::Float32) active().f32(aligned(f32_), rows_, cols_, stride_, x, y);
    else active().i8(aligned(i8_), scales_.data(), rows_, cols_, stride_, x, y);
}

const char* WeightMatrix::kernel_name() { return active().name; }

bool WeightMatrix::use_kernel(const std::string& name) {
    if (!cpu_has(name)) return false;
    active() = kernels_for(name);
    return true;
}

}  // namespace tonemorph
