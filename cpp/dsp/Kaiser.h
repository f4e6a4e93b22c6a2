// The Kaiser window, for windowed-sinc filters (the resampler's, the true-peak interpolator's).
//   w(r) = I0(beta sqrt(max(0, 1 - r^2))) / I0(beta)   (r: position from the centre, -1 .. 1)
#pragma once

#include <algorithm>
#include <cmath>

namespace tonemorph {

// Zeroth-order modified Bessel function of the first kind (its power series).
inline double bessel_i0(double x) {
    double sum = 1.0, term = 1.0;
    for (int k = 1; k < 64; ++k) {
        term *= (x / (2.0 * k)) * (x / (2.0 * k));
        sum += term;
        if (term < 1e-12 * sum) break;
    }
    return sum;
}

inline double kaiser(double r, double beta) {
    return bessel_i0(beta * std::sqrt(std::max(0.0, 1.0 - r * r))) / bessel_i0(beta);
}

}  // namespace tonemorph
