// Our own minimal declarations of the ONNX Runtime C API: only the entries kserve-swift calls, at the positions
// the append-only `OrtApi` function table gives them. Written for this project from the public documentation of the
// table's order and signatures; the wheel ships no header. Unused entries are pointer-sized placeholders, and the
// static assertions below pin the position of every entry we call.
#ifndef KSERVE_CONNXRUNTIME_H
#define KSERVE_CONNXRUNTIME_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// The table version these declarations match: entries 0...130 below exist in every library answering it.
#define KS_ORT_API_VERSION 13

// Opaque handles owned by the library.
typedef struct KSOrtStatus KSOrtStatus;
typedef struct KSOrtEnv KSOrtEnv;
typedef struct KSOrtSession KSOrtSession;
typedef struct KSOrtSessionOptions KSOrtSessionOptions;
typedef struct KSOrtValue KSOrtValue;
typedef struct KSOrtTypeInfo KSOrtTypeInfo;
typedef struct KSOrtTensorInfo KSOrtTensorInfo;
typedef struct KSOrtMemoryInfo KSOrtMemoryInfo;
typedef struct KSOrtAllocator KSOrtAllocator;
typedef struct KSOrtRunOptions KSOrtRunOptions;

/// Element types (ONNX TensorProto.DataType numbering).
enum {
    KS_ORT_FLOAT = 1, KS_ORT_UINT8 = 2, KS_ORT_INT8 = 3, KS_ORT_UINT16 = 4, KS_ORT_INT16 = 5, KS_ORT_INT32 = 6,
    KS_ORT_INT64 = 7, KS_ORT_STRING = 8, KS_ORT_BOOL = 9, KS_ORT_FLOAT16 = 10, KS_ORT_DOUBLE = 11,
    KS_ORT_UINT32 = 12, KS_ORT_UINT64 = 13, KS_ORT_BFLOAT16 = 16
};
/// Value kinds (ONNXType).
enum { KS_ORT_TYPE_TENSOR = 1, KS_ORT_TYPE_SEQUENCE = 2, KS_ORT_TYPE_MAP = 3 };
/// Logging severities.
enum { KS_ORT_LOG_WARNING = 2, KS_ORT_LOG_ERROR = 3 };
/// Allocator and memory kinds for CPU memory info.
enum { KS_ORT_DEVICE_ALLOCATOR = 0, KS_ORT_ARENA_ALLOCATOR = 1, KS_ORT_MEM_DEFAULT = 0 };

typedef KSOrtStatus *KSStatusPtr;
typedef void *KSOrtUnused;

/// The `OrtApi` table up to entry 130 (AddSessionConfigEntry). Enumerations travel as 32-bit ints.
typedef struct KSOrtApi {
    KSOrtUnused createStatus;                                                                    // 0
    int32_t (*getErrorCode)(const KSOrtStatus *status);                                          // 1
    const char *(*getErrorMessage)(const KSOrtStatus *status);                                   // 2
    KSStatusPtr (*createEnv)(int32_t severity, const char *logId, KSOrtEnv **out);               // 3
    KSOrtUnused unused4to6[3];                                                                   // 4-6
    KSStatusPtr (*createSession)(const KSOrtEnv *env, const char *path, const KSOrtSessionOptions *options,
                                 KSOrtSession **out);                                            // 7
    KSStatusPtr (*createSessionFromArray)(const KSOrtEnv *env, const void *bytes, size_t length,
                                          const KSOrtSessionOptions *options, KSOrtSession **out); // 8
    KSStatusPtr (*run)(KSOrtSession *session, const KSOrtRunOptions *runOptions, const char *const *inputNames,
                       const KSOrtValue *const *inputs, size_t inputCount, const char *const *outputNames,
                       size_t outputCount, KSOrtValue **outputs);                                // 9
    KSStatusPtr (*createSessionOptions)(KSOrtSessionOptions **out);                              // 10
    KSOrtUnused unused11to22[12];                                                                // 11-22
    KSStatusPtr (*setGraphOptimizationLevel)(KSOrtSessionOptions *options, int32_t level);       // 23
    KSStatusPtr (*setIntraOpNumThreads)(KSOrtSessionOptions *options, int32_t threads);          // 24
    KSStatusPtr (*setInterOpNumThreads)(KSOrtSessionOptions *options, int32_t threads);          // 25
    KSOrtUnused unused26to29[4];                                                                 // 26-29
    KSStatusPtr (*sessionGetInputCount)(const KSOrtSession *session, size_t *out);               // 30
    KSStatusPtr (*sessionGetOutputCount)(const KSOrtSession *session, size_t *out);              // 31
    KSOrtUnused unused32;                                                                        // 32
    KSStatusPtr (*sessionGetInputTypeInfo)(const KSOrtSession *session, size_t index, KSOrtTypeInfo **out);  // 33
    KSStatusPtr (*sessionGetOutputTypeInfo)(const KSOrtSession *session, size_t index, KSOrtTypeInfo **out); // 34
    KSOrtUnused unused35;                                                                        // 35
    KSStatusPtr (*sessionGetInputName)(const KSOrtSession *session, size_t index, KSOrtAllocator *allocator,
                                       char **out);                                              // 36
    KSStatusPtr (*sessionGetOutputName)(const KSOrtSession *session, size_t index, KSOrtAllocator *allocator,
                                        char **out);                                             // 37
    KSOrtUnused unused38to47[10];                                                                // 38-47
    KSStatusPtr (*createTensorAsOrtValue)(KSOrtAllocator *allocator, const int64_t *shape, size_t rank,
                                          int32_t elementType, KSOrtValue **out);                // 48
    KSStatusPtr (*createTensorWithDataAsOrtValue)(const KSOrtMemoryInfo *info, void *data, size_t byteCount,
                                                  const int64_t *shape, size_t rank, int32_t elementType,
                                                  KSOrtValue **out);                             // 49
    KSOrtUnused unused50;                                                                        // 50
    KSStatusPtr (*getTensorMutableData)(KSOrtValue *value, void **out);                          // 51
    KSStatusPtr (*fillStringTensor)(KSOrtValue *value, const char *const *strings, size_t count); // 52
    KSStatusPtr (*getStringTensorDataLength)(const KSOrtValue *value, size_t *out);              // 53
    KSStatusPtr (*getStringTensorContent)(const KSOrtValue *value, void *bytes, size_t byteCount, size_t *offsets,
                                          size_t offsetCount);                                   // 54
    KSStatusPtr (*castTypeInfoToTensorInfo)(const KSOrtTypeInfo *info, const KSOrtTensorInfo **out); // 55
    KSStatusPtr (*getOnnxTypeFromTypeInfo)(const KSOrtTypeInfo *info, int32_t *out);             // 56
    KSOrtUnused unused57to59[3];                                                                 // 57-59
    KSStatusPtr (*getTensorElementType)(const KSOrtTensorInfo *info, int32_t *out);              // 60
    KSStatusPtr (*getDimensionsCount)(const KSOrtTensorInfo *info, size_t *out);                 // 61
    KSStatusPtr (*getDimensions)(const KSOrtTensorInfo *info, int64_t *dims, size_t count);      // 62
    KSOrtUnused unused63to64[2];                                                                 // 63-64
    KSStatusPtr (*getTensorTypeAndShape)(const KSOrtValue *value, KSOrtTensorInfo **out);        // 65
    KSOrtUnused unused66to68[3];                                                                 // 66-68
    KSStatusPtr (*createCpuMemoryInfo)(int32_t allocatorType, int32_t memType, KSOrtMemoryInfo **out); // 69
    KSOrtUnused unused70to75[6];                                                                 // 70-75
    KSStatusPtr (*allocatorFree)(KSOrtAllocator *allocator, void *pointer);                      // 76
    KSOrtUnused unused77;                                                                        // 77
    KSStatusPtr (*getAllocatorWithDefaultOptions)(KSOrtAllocator **out);                         // 78
    KSOrtUnused unused79to91[13];                                                                // 79-91
    void (*releaseEnv)(KSOrtEnv *env);                                                           // 92
    void (*releaseStatus)(KSOrtStatus *status);                                                  // 93
    void (*releaseMemoryInfo)(KSOrtMemoryInfo *info);                                            // 94
    void (*releaseSession)(KSOrtSession *session);                                               // 95
    void (*releaseValue)(KSOrtValue *value);                                                     // 96
    void (*releaseRunOptions)(KSOrtRunOptions *options);                                         // 97
    void (*releaseTypeInfo)(KSOrtTypeInfo *info);                                                // 98
    void (*releaseTensorInfo)(KSOrtTensorInfo *info);                                            // 99
    void (*releaseSessionOptions)(KSOrtSessionOptions *options);                                 // 100
    KSOrtUnused unused101to129[29];                                                              // 101-129
    KSStatusPtr (*addSessionConfigEntry)(KSOrtSessionOptions *options, const char *key, const char *value); // 130
} KSOrtApi;

_Static_assert(offsetof(KSOrtApi, run) == 9 * sizeof(void *), "OrtApi entry 9");
_Static_assert(offsetof(KSOrtApi, sessionGetInputCount) == 30 * sizeof(void *), "OrtApi entry 30");
_Static_assert(offsetof(KSOrtApi, createTensorAsOrtValue) == 48 * sizeof(void *), "OrtApi entry 48");
_Static_assert(offsetof(KSOrtApi, getTensorElementType) == 60 * sizeof(void *), "OrtApi entry 60");
_Static_assert(offsetof(KSOrtApi, createCpuMemoryInfo) == 69 * sizeof(void *), "OrtApi entry 69");
_Static_assert(offsetof(KSOrtApi, getAllocatorWithDefaultOptions) == 78 * sizeof(void *), "OrtApi entry 78");
_Static_assert(offsetof(KSOrtApi, releaseEnv) == 92 * sizeof(void *), "OrtApi entry 92");
_Static_assert(offsetof(KSOrtApi, addSessionConfigEntry) == 130 * sizeof(void *), "OrtApi entry 130");

/// `OrtGetApiBase()`'s answer: the table for a version (NULL when the library is older), and the library version.
typedef struct KSOrtApiBase {
    const KSOrtApi *(*getApi)(uint32_t version);
    const char *(*getVersionString)(void);
} KSOrtApiBase;

/// dlopen()s `path` (RTLD_NOW | RTLD_LOCAL) and resolves `OrtGetApiBase`. On failure returns NULL and copies the
/// loader's message into `error` (at most `errorCapacity` bytes, NUL-terminated).
const KSOrtApiBase *ks_ort_open(const char *path, char *error, size_t errorCapacity);

#ifdef __cplusplus
}
#endif
#endif
