#pragma once
#include <fastcgi.h>
#include <fcgiapp.h>
#include <stdlib.h>
#include <string.h>

/*
 * libfcgi 2.4 keeps each stream's buffer in a state record that its public header does not declare (fcgiapp.c,
 * unchanged since the 1990s): the buffer, its size, the allocation behind it, the end of the bytes read, then
 * seven ints of record-parsing state and the owning request. This declaration is ours, for one purpose: giving a
 * request's input stream a larger buffer, so that a large body is read with a few large reads instead of one
 * `read` per 8 KB (libfcgi's fixed size).
 */
struct kserve_fcgx_stream_state {
    unsigned char *buffer;      /* start of the buffer (the allocation rounded up to 8) */
    int capacity;               /* bytes the buffer holds */
    unsigned char *allocation;  /* what libfcgi frees when the stream is freed */
    unsigned char *end;         /* reader: one past the last byte read from the connection */
    int recordState[7];         /* stream type, then record bookkeeping; only [0] (the type) is looked at */
    void *request;              /* the FCGX_Request the stream belongs to */
};

/*
 * Gives `request`'s input stream a buffer of `size` bytes, with the bytes read but not yet consumed moved to its
 * start, so libfcgi's own reader fills it `size` bytes at a time. Returns 1 when the buffer was replaced; 0 when
 * the stream is not an open stdin reader laid out as expected (then nothing is touched and libfcgi goes on with
 * its own buffer), or when memory is short. libfcgi frees the new buffer with the stream, as it did the old one.
 */
static inline int kserve_fcgx_widen_input(FCGX_Request *request, int size) {
    if (request == NULL || size <= 0) return 0;
    FCGX_Stream *in = request->in;
    if (in == NULL || !in->isReader || in->isClosed || in->data == NULL) return 0;
    struct kserve_fcgx_stream_state *state = (struct kserve_fcgx_stream_state *)in->data;
    /* The layout check: this stream's state names this request, is stdin, and its pointers are in order. */
    if (state->request != (void *)request || state->recordState[0] != FCGI_STDIN) return 0;
    if (state->capacity < 32 || state->capacity > (1 << 20) || size <= state->capacity) return 0;
    if (state->allocation == NULL || state->buffer < state->allocation || state->buffer >= state->allocation + 8) return 0;
    unsigned char *start = state->buffer, *end = state->end;
    if (!(start <= in->stopUnget && in->stopUnget <= in->rdNext && in->rdNext <= in->stop && in->stop <= end
          && end <= start + state->capacity)) return 0;
    unsigned char *fresh = (unsigned char *)malloc((size_t)size);  /* malloc aligns to 16: no rounding needed */
    if (fresh == NULL) return 0;
    size_t pending = (size_t)(end - in->rdNext), visible = (size_t)(in->stop - in->rdNext);
    memcpy(fresh, in->rdNext, pending);
    free(state->allocation);
    state->allocation = fresh;
    state->buffer = fresh;
    state->capacity = size;
    state->end = fresh + pending;
    in->rdNext = fresh;
    in->stopUnget = fresh;
    in->stop = fresh + visible;
    in->wrNext = in->stop;  /* a reader keeps wrNext at stop */
    return 1;
}
