/*
 * peercred: SO_PEERCRED for Node (Linux).
 *
 * Why native: Node exposes no API for a UNIX socket peer's credentials, and the SPIFFE Workload
 * Endpoint must identify its caller without any secret (Workload Endpoint spec section 5). The kernel records
 * the peer's pid/uid/gid at connect(2) time; getsockopt(SO_PEERCRED) returns exactly that
 * snapshot, so unlike /proc scanning it cannot be confused by another process sharing the socket.
 *
 * peercred(fd: number) -> { pid, uid, gid }; throws an Error with .code = errno name on failure.
 * Written against the stable Node-API C interface only (ABI-stable across Node versions).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <node_api.h>

static napi_value throw_errno(napi_env env, int err) {
  const char *code = err == EBADF ? "EBADF" : err == ENOTSOCK ? "ENOTSOCK" : err == EINVAL ? "EINVAL" : "EPEERCRED";
  napi_throw_error(env, code, strerror(err));
  return NULL;
}

static napi_value peercred(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 1) {
    napi_throw_type_error(env, "EINVAL", "peercred(fd) takes one file descriptor");
    return NULL;
  }
  int32_t fd = -1;
  if (napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
    napi_throw_type_error(env, "EINVAL", "fd must be a non-negative integer");
    return NULL;
  }
  struct ucred cred;
  socklen_t len = sizeof(cred);
  memset(&cred, 0, sizeof(cred));
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return throw_errno(env, errno);
  if (len != sizeof(cred)) return throw_errno(env, EINVAL);
  napi_value out, pid, uid, gid;
  napi_create_object(env, &out);
  napi_create_int32(env, (int32_t)cred.pid, &pid);
  napi_create_uint32(env, (uint32_t)cred.uid, &uid);
  napi_create_uint32(env, (uint32_t)cred.gid, &gid);
  napi_set_named_property(env, out, "pid", pid);
  napi_set_named_property(env, out, "uid", uid);
  napi_set_named_property(env, out, "gid", gid);
  return out;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "peercred", NAPI_AUTO_LENGTH, peercred, NULL, &fn);
  napi_set_named_property(env, exports, "peercred", fn);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
