/*
 * fcgi_ceiling: the architectural ceiling of `make bench`, a minimal C FastCGI responder on libfcgi.
 *
 *   cc -O2 -o fcgi_ceiling Tests/bench/fcgi_ceiling.c -lfcgi
 *   fcgi_ceiling < listening-unix-socket      (FastCGI convention: the listening socket is descriptor 0)
 *
 * The bench runner binds the Unix socket, starts two of these on it (like our two workers) and puts nginx, rendered
 * from the same nginx/kserve.conf.template, in front. For every request it reads the whole body, then:
 *   - a request with an Inference-Header-Content-Length header (the v2 binary workload) gets its body echoed back
 *     with the same header, so the 4 MB workload measures nginx + FastCGI moving the bytes both ways;
 *   - any other request gets a small constant JSON answer (27 bytes), also /v2/health/ready.
 * No parsing, no model: whatever our worker costs on top of this is our own code.
 *
 * It ends on SIGTERM / SIGINT (default action) or when the parent closes the socket.
 */
#include <fcgiapp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char small_answer[] = "{\"predictions\":[[1.0,2.0]]}";

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    if (FCGX_Init() != 0) {
        fprintf(stderr, "fcgi_ceiling: FCGX_Init failed\n");
        return 1;
    }
    FCGX_Request request;
    if (FCGX_InitRequest(&request, 0, 0) != 0) {
        fprintf(stderr, "fcgi_ceiling: FCGX_InitRequest failed\n");
        return 1;
    }
    char *body = NULL;
    size_t capacity = 0;
    char drain[65536];
    while (FCGX_Accept_r(&request) >= 0) {
        const char *cl = FCGX_GetParam("CONTENT_LENGTH", request.envp);
        long length = cl && *cl ? strtol(cl, NULL, 10) : 0;
        if (length < 0) length = 0;
        const char *ihcl = FCGX_GetParam("HTTP_INFERENCE_HEADER_CONTENT_LENGTH", request.envp);
        if (ihcl && length > 0) {
            if ((size_t)length > capacity) {
                char *grown = realloc(body, (size_t)length);
                if (!grown) {
                    FCGX_FPrintF(request.out, "Status: 500 Internal Server Error\r\nContent-Type: application/json\r\n\r\n"
                                              "{\"error\":\"out of memory\"}");
                    FCGX_Finish_r(&request);
                    continue;
                }
                body = grown;
                capacity = (size_t)length;
            }
            long got = 0;
            while (got < length) {
                int n = FCGX_GetStr(body + got, (int)(length - got > (1 << 30) ? (1 << 30) : length - got), request.in);
                if (n <= 0) break;
                got += n;
            }
            FCGX_FPrintF(request.out,
                         "Status: 200 OK\r\nContent-Type: application/octet-stream\r\n"
                         "Inference-Header-Content-Length: %s\r\nContent-Length: %ld\r\n\r\n",
                         ihcl, got);
            FCGX_PutStr(body, (int)got, request.out);
        } else {
            while (FCGX_GetStr(drain, sizeof drain, request.in) > 0) {
            }
            FCGX_FPrintF(request.out, "Status: 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n",
                         (int)(sizeof small_answer - 1));
            FCGX_PutStr(small_answer, (int)(sizeof small_answer - 1), request.out);
        }
        FCGX_Finish_r(&request);
    }
    free(body);
    return 0;
}
