#ifndef PARLEY_CESPEAKNG_SHIM_H
#define PARLEY_CESPEAKNG_SHIM_H
#include <espeak-ng/speak_lib.h>
#endif
