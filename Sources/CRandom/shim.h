// The kernel's random source in bulk (getrandom), which the Glibc module does not export.
#if __has_include(<sys/random.h>)
#include <sys/random.h>
#endif
