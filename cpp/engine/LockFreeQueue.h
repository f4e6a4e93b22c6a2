// moodycamel's single-producer/single-consumer queues (Debian's libreaderwriterqueue-dev). Under
// ThreadSanitizer their fences need happens-before annotations, which the header turns on only where the
// compiler has __has_feature (clang, GCC 14): older GCC gets them here, so a TSan build sees what they order.
#pragma once

#if defined(__SANITIZE_THREAD__) && !defined(__has_feature)
namespace moodycamel {
inline int ae_tsan_global;
}
extern "C" void AnnotateHappensBefore(const char*, int, void*);
extern "C" void AnnotateHappensAfter(const char*, int, void*);
#define AE_TSAN_ANNOTATE_RELEASE() AnnotateHappensBefore(__FILE__, __LINE__, (void*)(&::moodycamel::ae_tsan_global))
#define AE_TSAN_ANNOTATE_ACQUIRE() AnnotateHappensAfter(__FILE__, __LINE__, (void*)(&::moodycamel::ae_tsan_global))
#endif

#include "readerwriterqueue.h"
