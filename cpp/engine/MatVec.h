// Matrix-vector products for the native decoder: y = W x with W stored row by row (one row per output),
// in float32 or in int8 with one scale per row (w = scale_r q, q in [-127, 127]; x is then rounded to int16
// against its own peak for each product, and the sums are exact in int32). The kernel is picked
// once per process from what the CPU offers (AVX-512, AVX2 + FMA, or portable C++), so one binary runs
// on any x86-64 machine and uses the wide units where they exist. Allocation-free.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace tonemorph {

enum class WeightFormat { Float32, Int8 };

class WeightMatrix final {
public:
    // `w` is rows x cols, row-major (w[r * cols + c]). Allocates.
    WeightMatrix(const float* w, int rows, int cols, WeightFormat format);

    // y[r] = sum_c W[r, c] x[c] for r < rows(). x holds cols() values; y rows() values.
    void multiply(const float* x, float* y) const;

    int rows() const { return rows_; }
    int cols() const { return cols_; }
    WeightFormat format() const { return format_; }
    std::size_t bytes() const;

    // The kernel family in use on this CPU ("avx512vnni", "avx512", "avx2", "portable").
    static const char* kernel_name();
    // Tests and benchmarks: force a family (as above); false if this CPU lacks it.
    static bool use_kernel(const std::string& name);
    static constexpr int kMaxInt8Cols = 4096;  // wider matrices stay float32 (x is quantised on the stack)

private:
    int rows_, cols_, stride_;  // stride_: cols_ rounded up to a whole number of 64-byte lines
    WeightFormat format_;
    float q_max_ = 32767.0f;  // the int16 range x is scaled to
    std::vector<float> f32_;
    std::vector<std::int8_t> i8_;
    std::vector<float> scales_;
};

}  // namespace tonemorph
