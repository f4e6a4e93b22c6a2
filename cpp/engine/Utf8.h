// UTF-8 read byte by byte, for text that comes from files we do not trust (model metadata, saved states):
// a damaged lead byte never makes a reader run past the end.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tonemorph {

// The UTF-8 sequence at bytes[i] (i < size): its length in bytes (1-4) with its code point in `code`, or 0
// when it is not a whole, valid sequence (a bad lead or continuation byte, past the end, not the shortest
// form, a surrogate, above U+10FFFF).
inline int next_code_point(const char* bytes, std::size_t i, std::size_t size, std::uint32_t& code) {
    const auto c = static_cast<unsigned char>(bytes[i]);
    const int length = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (length == 0 || i + static_cast<std::size_t>(length) > size) return 0;
    code = length == 1 ? c : length == 2 ? c & 0x1Fu : length == 3 ? c & 0x0Fu : c & 0x07u;
    for (int k = 1; k < length; ++k) {
        const auto next = static_cast<unsigned char>(bytes[i + static_cast<std::size_t>(k)]);
        if ((next & 0xC0) != 0x80) return 0;
        code = (code << 6) | (next & 0x3Fu);
    }
    static constexpr std::uint32_t kShortest[] = {0, 0, 0x80, 0x800, 0x10000};
    if (code < kShortest[length] || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return 0;
    return length;
}

}  // namespace tonemorph
