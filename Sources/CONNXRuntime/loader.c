// Run-time loading of the ONNX Runtime library (never linked at build time).
#include "CONNXRuntime.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

typedef const KSOrtApiBase *(*KSGetApiBase)(void);

const KSOrtApiBase *ks_ort_open(const char *path, char *error, size_t errorCapacity) {
    if (errorCapacity > 0) error[0] = 0;
    void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (handle == NULL) {
        const char *why = dlerror();
        if (errorCapacity > 0) snprintf(error, errorCapacity, "%s", why ? why : "dlopen failed");
        return NULL;
    }
    KSGetApiBase getBase = (KSGetApiBase)dlsym(handle, "OrtGetApiBase");
    if (getBase == NULL) {
        if (errorCapacity > 0) snprintf(error, errorCapacity, "%s does not export OrtGetApiBase: not an ONNX Runtime library", path);
        dlclose(handle);
        return NULL;
    }
    const KSOrtApiBase *base = getBase();
    if (base == NULL) {
        if (errorCapacity > 0) snprintf(error, errorCapacity, "OrtGetApiBase() returned NULL");
        dlclose(handle);
        return NULL;
    }
    return base;  // the library stays loaded for the life of the process
}
