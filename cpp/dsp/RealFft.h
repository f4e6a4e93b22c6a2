// Real FFT of a fixed even size. Plans are made in the constructor; forward() and inverse() never allocate.
// Two back ends behind one interface: FFTW (single precision, its SIMD codelets; where the system has it,
// the Linux builds) and KissFFT (scalar; the Windows cross-build, which builds it from source). FFTW measured
// 2.5-4x faster at the mastering sizes (8192 and 32768 points).
#pragma once

#include <complex>
#include <cstddef>
#include <memory>

namespace tonemorph {

class RealFft final {
public:
    // size: even, > 0, and size / 2 a product of 2, 3 and 5 only (KissFFT allocates scratch memory on
    // every call for other prime factors, which the audio thread must never do; both back ends take the
    // same sizes so a model loads on every platform or on none).
    explicit RealFft(std::size_t size);
    static bool supported(std::size_t size);
    static const char* backend();  // "fftw" or "kissfft"
    ~RealFft();
    RealFft(const RealFft&) = delete;
    RealFft& operator=(const RealFft&) = delete;

    std::size_t size() const { return size_; }
    std::size_t bins() const { return size_ / 2 + 1; }

    // X[k] = sum_n x[n] e^{-2 pi i k n / N}, k = 0..N/2 (unnormalised).
    void forward(const float* in, std::complex<float>* out);
    // x[n] = sum_k X[k] e^{+2 pi i k n / N} (unnormalised: inverse(forward(x)) = N x).
    void inverse(const std::complex<float>* in, float* out);

private:
    struct Plans;
    std::size_t size_;
    std::unique_ptr<Plans> plans_;
};

}  // namespace tonemorph
