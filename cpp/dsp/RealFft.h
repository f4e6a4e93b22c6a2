// Real FFT of a fixed even size over KissFFT. Plans are made in the constructor;
// forward() and inverse() never allocate.
#pragma once

#include <complex>
#include <cstddef>
#include <vector>

struct kiss_fftr_state;

namespace tonemorph {

class RealFft final {
public:
    // size: even, > 0, and size / 2 a product of 2, 3 and 5 only (KissFFT allocates scratch memory on
    // every call for other prime factors, which the audio thread must never do).
    explicit RealFft(std::size_t size);
    static bool supported(std::size_t size);
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
    std::size_t size_;
    kiss_fftr_state* forward_plan_ = nullptr;
    kiss_fftr_state* inverse_plan_ = nullptr;
};

}  // namespace tonemorph
