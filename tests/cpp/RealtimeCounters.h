// The real-time rules' instruments: heap allocations, frees and mutex locks made by one thread, counted by
// replacing malloc/free and operator new/delete and interposing pthread_mutex_lock. Include this in exactly
// one source file of a test program (tests/cpp/test_realtime.cpp, plugin/tools/PluginTorture.cpp); glibc only.
#pragma once

#include <dlfcn.h>
#include <pthread.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <new>

// Sanitizers bring their own allocator: under them nothing is interposed, counted() reports -1, and a program
// runs for what the sanitizer sees (races, leaks, overflows).
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define TONEMORPH_COUNTERS 0
#else
#define TONEMORPH_COUNTERS 1
#endif

#if TONEMORPH_COUNTERS
extern "C" void* __libc_malloc(size_t);
extern "C" void* __libc_calloc(size_t, size_t);
extern "C" void* __libc_realloc(void*, size_t);
extern "C" void* __libc_memalign(size_t, size_t);
extern "C" void __libc_free(void*);

namespace {
thread_local bool t_counting = false;
std::atomic<long> g_allocations{0};
std::atomic<long> g_frees{0};
std::atomic<long> g_locks{0};

inline void note_allocation() {
    if (t_counting) g_allocations.fetch_add(1, std::memory_order_relaxed);
}
inline void note_free(void* p) {
    if (t_counting && p) g_frees.fetch_add(1, std::memory_order_relaxed);
}
}  // namespace

extern "C" {
void* malloc(size_t n) {
    note_allocation();
    return __libc_malloc(n);
}
void* calloc(size_t a, size_t b) {
    note_allocation();
    return __libc_calloc(a, b);
}
void* realloc(void* p, size_t n) {
    note_allocation();
    return __libc_realloc(p, n);
}
void free(void* p) {
    note_free(p);
    __libc_free(p);
}
int posix_memalign(void** out, size_t align, size_t n) {
    note_allocation();
    *out = __libc_memalign(align, n);
    return *out ? 0 : ENOMEM;
}
void* aligned_alloc(size_t align, size_t n) {
    note_allocation();
    return __libc_memalign(align, n);
}

int pthread_mutex_lock(pthread_mutex_t* m) {
    using Fn = int (*)(pthread_mutex_t*);
    static Fn real = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, "pthread_mutex_lock"));
    if (t_counting) g_locks.fetch_add(1, std::memory_order_relaxed);
    return real(m);
}
int pthread_mutex_trylock(pthread_mutex_t* m) {
    using Fn = int (*)(pthread_mutex_t*);
    static Fn real = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, "pthread_mutex_trylock"));
    if (t_counting) g_locks.fetch_add(1, std::memory_order_relaxed);
    return real(m);
}
}

void* operator new(std::size_t n) {
    note_allocation();
    if (void* p = __libc_malloc(n ? n : 1)) return p;
    throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return operator new(n); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
    note_allocation();
    return __libc_malloc(n ? n : 1);
}
void* operator new[](std::size_t n, const std::nothrow_t& t) noexcept { return operator new(n, t); }
void operator delete(void* p) noexcept {
    note_free(p);
    __libc_free(p);
}
void operator delete[](void* p) noexcept { operator delete(p); }
void operator delete(void* p, std::size_t) noexcept { operator delete(p); }
void operator delete[](void* p, std::size_t) noexcept { operator delete(p); }

#endif  // TONEMORPH_COUNTERS

namespace realtime_counters {

#if !TONEMORPH_COUNTERS
struct Counted {
    long allocations, frees, locks;
};
template <typename F>
Counted counted(F&& body) {
    body();
    return {-1, -1, -1};
}
#else

struct Counted {
    long allocations, frees, locks;
};

// Runs `body` on this thread with counting on; returns what was counted.
template <typename F>
Counted counted(F&& body) {
    const long a0 = g_allocations.load(), f0 = g_frees.load(), l0 = g_locks.load();
    t_counting = true;
    body();
    t_counting = false;
    return {g_allocations.load() - a0, g_frees.load() - f0, g_locks.load() - l0};
}

#endif

}  // namespace realtime_counters
