// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* test_identity.c - identity.c's parsers: cgroup paths, environments, kubelet log names, rules. */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "identity.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define ID "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define ID2 "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
#define UID "3f2b8c1e-9d4a-4e5b-8f6a-1b2c3d4e5f60"
#define UID_ "3f2b8c1e_9d4a_4e5b_8f6a_1b2c3d4e5f60"
#define STATIC_UID "7e4bd3ac0b5f4cc3b8a1c4e2a1f3b6a2" /* static pods: a manifest hash */

#define expect_str(name, got, want)                                                                \
	do {                                                                                       \
		if (strcmp((got), (want)) != 0)                                                    \
			fail_msg("case '%s':\n  got:  \"%s\"\n  want: \"%s\"", (name), (got),      \
				 (want));                                                          \
	} while (0)

#define expect_int(name, got, want)                                                                \
	do {                                                                                       \
		long long g_ = (long long)(got), w_ = (long long)(want);                           \
		if (g_ != w_)                                                                      \
			fail_msg("case '%s': %s is %lld, want %lld", (name), #got, g_, w_);        \
	} while (0)

/* ---- cgroup paths ------------------------------------------------------------------------ */

static void test_cgroup_path_gives_container_id_and_pod_uid_for_every_layout(void **state)
{
	static const struct {
		const char *name, *path, *container_id, *pod_uid;
	} cases[] = {
		{ "docker, cgroupfs driver", "/docker/" ID, ID, "" },
		{ "docker, systemd driver", "/system.slice/docker-" ID ".scope", ID, "" },
		{ "docker, custom --cgroup-parent", "/ci/jobs/" ID, ID, "" },
		{ "docker in docker: the inner one", "/docker/" ID2 "/docker/" ID, ID, "" },
		{ "docker scope with a child", "/system.slice/docker-" ID ".scope/init", ID, "" },
		{ "containerd (CRI), systemd, burstable",
		  "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_
		  ".slice/cri-containerd-" ID ".scope",
		  ID, UID },
		{ "containerd (CRI), systemd, guaranteed",
		  "/kubepods.slice/kubepods-pod" UID_ ".slice/cri-containerd-" ID ".scope", ID, UID },
		{ "containerd (CRI), cgroupfs, besteffort", "/kubepods/besteffort/pod" UID "/" ID, ID,
		  UID },
		{ "containerd (CRI), cgroupfs, guaranteed", "/kubepods/pod" UID "/" ID, ID, UID },
		{ "cri-o, systemd", "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" UID_
		  ".slice/crio-" ID ".scope",
		  ID, UID },
		{ "cri-o, cgroupfs", "/kubepods/burstable/pod" UID "/crio-" ID, ID, UID },
		{ "cri-o conmon is not the container",
		  "/kubepods.slice/kubepods-pod" UID_ ".slice/crio-conmon-" ID ".scope", "", UID },
		{ "kind / kubelet in a container",
		  "/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/"
		  "kubelet-kubepods-besteffort-pod" UID_ ".slice/cri-containerd-" ID ".scope",
		  ID, UID },
		{ "static pod uid", "/kubepods/burstable/pod" STATIC_UID "/" ID, ID, STATIC_UID },
		{ "pod sandbox cgroup only", "/kubepods/burstable/pod" UID, "", UID },
		{ "podman, systemd", "/machine.slice/libpod-" ID ".scope", ID, "" },
		{ "podman, systemd, container payload",
		  "/machine.slice/libpod-" ID ".scope/container", ID, "" },
		{ "podman rootless",
		  "/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" ID ".scope", ID,
		  "" },
		{ "podman, cgroupfs", "/libpod_parent/libpod-" ID, ID, "" },
		{ "podman conmon is not the container", "/libpod_parent/libpod-conmon-" ID, "", "" },
		{ "plain host root", "/", "", "" },
		{ "systemd service", "/system.slice/nginx.service", "", "" },
		{ "63 hex digits", "/docker/" "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde",
		  "", "" },
		{ "upper-case hex", "/docker/" "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
		  "", "" },
		{ "pod-like name outside kubepods", "/pod" UID "/" ID, ID, "" },
		{ "bad uid separators", "/kubepods/pod3f2b8c1e+9d4a-4e5b-8f6a-1b2c3d4e5f60/" ID, ID,
		  "" },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct identity_cgroup_info info;

		identity_parse_cgroup_path(cases[i].path, &info);
		expect_str(cases[i].name, info.container_id, cases[i].container_id);
		expect_str(cases[i].name, info.pod_uid, cases[i].pod_uid);
	}
}

/* ---- environments ------------------------------------------------------------------------ */

#define ENV(s) s, sizeof(s) - 1 /* a blob with its NULs, without the literal's own */

static void test_environ_service_name_from_otel_variables(void **state)
{
	static const struct {
		const char *name;
		const char *env;
		size_t len;
		int ret;
		const char *want;
	} cases[] = {
		{ "OTEL_SERVICE_NAME", ENV("PATH=/bin\0OTEL_SERVICE_NAME=checkout\0HOME=/\0"), 0,
		  "checkout" },
		{ "last entry without its NUL", ENV("A=1\0OTEL_SERVICE_NAME=checkout"), 0, "checkout" },
		{ "first entry", ENV("OTEL_SERVICE_NAME=first\0"), 0, "first" },
		{ "not set", ENV("PATH=/bin\0HOME=/\0"), -ENOENT, "" },
		{ "empty environment", ENV(""), -ENOENT, "" },
		{ "empty value is unset", ENV("OTEL_SERVICE_NAME=\0"), -ENOENT, "" },
		{ "blank value is unset", ENV("OTEL_SERVICE_NAME=  \0"), -ENOENT, "" },
		{ "value trimmed", ENV("OTEL_SERVICE_NAME= cart \0"), 0, "cart" },
		{ "longer name is another variable", ENV("OTEL_SERVICE_NAME_X=no\0"), -ENOENT, "" },
		{ "prefixed name is another variable", ENV("XOTEL_SERVICE_NAME=no\0"), -ENOENT, "" },
		{ "name without '='", ENV("OTEL_SERVICE_NAME\0"), -ENOENT, "" },
		{ "the first of two wins, as getenv", ENV("OTEL_SERVICE_NAME=a\0OTEL_SERVICE_NAME=b\0"),
		  0, "a" },
		{ "resource attributes", ENV("OTEL_RESOURCE_ATTRIBUTES=deployment.environment=prod,"
					     "service.name=cart,service.version=2\0"),
		  0, "cart" },
		{ "resource attributes, spaces and percent-encoding",
		  ENV("OTEL_RESOURCE_ATTRIBUTES= service.name = my%20cart%2Fv2 \0"), 0, "my cart/v2" },
		{ "resource attributes, bad percent kept", ENV("OTEL_RESOURCE_ATTRIBUTES=service.name=a%zz%4\0"),
		  0, "a%zz%4" },
		{ "resource attributes without service.name",
		  ENV("OTEL_RESOURCE_ATTRIBUTES=service.version=2\0"), -ENOENT, "" },
		{ "OTEL_SERVICE_NAME wins over resource attributes",
		  ENV("OTEL_RESOURCE_ATTRIBUTES=service.name=attr\0OTEL_SERVICE_NAME=env\0"), 0, "env" },
		{ "empty OTEL_SERVICE_NAME falls back to resource attributes",
		  ENV("OTEL_SERVICE_NAME=\0OTEL_RESOURCE_ATTRIBUTES=service.name=attr\0"), 0, "attr" },
		{ "invalid UTF-8 replaced", ENV("OTEL_SERVICE_NAME=a\xff" "b\xc3\0"), 0, "a?b?" },
		{ "valid UTF-8 kept", ENV("OTEL_SERVICE_NAME=caf\xc3\xa9\0"), 0, "caf\xc3\xa9" },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char out[SOCKEYE_ID_VALUE_LEN];

		memset(out, 'x', sizeof(out));
		expect_int(cases[i].name,
			   identity_environ_service_name(cases[i].env, cases[i].len, out, sizeof(out)),
			   cases[i].ret);
		expect_str(cases[i].name, out, cases[i].want);
	}
}

static void test_copy_utf8_never_splits_a_character(void **state)
{
	static const struct {
		const char *name, *in;
		size_t size;
		const char *want;
	} cases[] = {
		{ "fits", "abc", 8, "abc" },
		{ "cut", "abcdef", 4, "abc" },
		{ "two-byte character not split", "ab\xc3\xa9", 4, "ab" },
		{ "three-byte character not split", "a\xe2\x82\xac", 3, "a" },
		{ "overlong form", "\xc0\xaf", 8, "??" },
		{ "surrogate", "\xed\xa0\x80", 8, "???" },
		{ "beyond U+10FFFF", "\xf4\x90\x80\x80", 8, "????" },
		{ "four-byte character", "\xf0\x9f\x90\x9f", 8, "\xf0\x9f\x90\x9f" },
		{ "stops at NUL", "ab\0cd", 8, "ab" },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char out[16];

		identity_copy_utf8(out, cases[i].size, cases[i].in, strlen(cases[i].in) + 2);
		expect_str(cases[i].name, out, cases[i].want);
	}
}

/* ---- process names ----------------------------------------------------------------------- */

static void test_process_name_is_the_executed_name(void **state)
{
	static const struct {
		const char *name, *comm, *exe, *want;
	} cases[] = {
		{ "symlinked interpreter keeps the name it was run as", "python3",
		  "/usr/bin/python3.11", "python3" },
		{ "plain binary", "nginx", "/usr/sbin/nginx", "nginx" },
		{ "script run by its shebang", "gunicorn", "/usr/bin/python3.11", "gunicorn" },
		{ "comm cut at 15 bytes is completed from exe", "my-very-long-se",
		  "/opt/bin/my-very-long-service", "my-very-long-service" },
		{ "15-byte comm that is the whole name", "fifteen-chars-x", "/bin/fifteen-chars-x",
		  "fifteen-chars-x" },
		{ "15-byte comm of another file", "my-very-long-se", "/usr/bin/python3.11",
		  "my-very-long-se" },
		{ "deleted binary", "my-very-long-se", "/opt/my-very-long-service (deleted)",
		  "my-very-long-service" },
		{ "no exe (kernel thread, permission)", "kworker", NULL, "kworker" },
		{ "no comm", "", "/usr/bin/env", "env" },
		{ "nothing", "", NULL, "" },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char out[SOCKEYE_ID_VALUE_LEN];

		identity_process_name(cases[i].comm, cases[i].exe, out, sizeof(out));
		expect_str(cases[i].name, out, cases[i].want);
	}
}

/* ---- rules ------------------------------------------------------------------------------- */

static void test_first_rule_whose_every_criterion_holds_wins(void **state)
{
	static const struct sockeye_identity_rule rules[] = {
		{ .exe = "/usr/bin/python3", .port = 8080, .cgroup = "/docker",
		  .service_name = "checkout" },
		{ .port = 8080, .service_name = "any-8080" },
		{ .cgroup = "/system.slice/nginx.service", .service_name = "web" },
		{ .exe = "/usr/local/bin/app", .service_name = "app" },
		{ .cgroup = "/", .port = 9999, .service_name = "root-9999" },
	};
	static const char *const real[] = { "/usr/bin/python3.11", NULL, NULL, NULL, NULL };
	static const struct {
		const char *name, *exe;
		uint16_t port;
		const char *cgroup, *want;
	} cases[] = {
		{ "all three, exe as resolved", "/usr/bin/python3.11", 8080, "/docker/" ID,
		  "checkout" },
		{ "all three, exe as written", "/usr/bin/python3", 8080, "/docker", "checkout" },
		{ "cgroup only a prefix of a name", "/usr/bin/python3.11", 8080, "/dockerd",
		  "any-8080" },
		{ "other exe", "/usr/bin/ruby", 8080, "/docker/" ID, "any-8080" },
		{ "exe unknown", NULL, 8080, "/docker/" ID, "any-8080" },
		{ "cgroup and below", NULL, 80, "/system.slice/nginx.service/worker", "web" },
		{ "exe alone", "/usr/local/bin/app", 1, "/", "app" },
		{ "root cgroup matches all", NULL, 9999, "/a/b", "root-9999" },
		{ "cgroup unknown", NULL, 9999, NULL, NULL },
		{ "nothing matches", "/bin/true", 1, "/x", NULL },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct sockeye_identity_rule *r =
			identity_match_rule(rules, real, ARRAY_SIZE(rules), cases[i].exe,
					    cases[i].port, cases[i].cgroup);

		expect_str(cases[i].name, r ? r->service_name : "(none)",
			   cases[i].want ? cases[i].want : "(none)");
	}
}

/* ---- kubelet log directories ------------------------------------------------------------- */

static void test_pod_log_dir_names(void **state)
{
	static const struct {
		const char *name, *dir;
		int ret;
		const char *ns, *pod, *uid;
	} cases[] = {
		{ "plain", "default_web-7d9f_" UID, 0, "default", "web-7d9f", UID },
		{ "dots in the pod name", "kube-system_etcd.node-1_" STATIC_UID, 0, "kube-system",
		  "etcd.node-1", STATIC_UID },
		{ "uid in its slice form", "default_web_" UID_, -EINVAL, "", "", "" },
		{ "no uid", "default_web", -EINVAL, "", "", "" },
		{ "bad uid", "default_web_not-a-uid", -EINVAL, "", "", "" },
		{ "empty namespace", "_web_" UID, -EINVAL, "", "", "" },
		{ "empty pod", "default__" UID, -EINVAL, "", "", "" },
		{ "underscore in the pod name", "default_a_b_" UID, -EINVAL, "", "", "" },
		{ "not a pod directory", "lost+found", -EINVAL, "", "", "" },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct identity_pod pod;

		expect_int(cases[i].name, identity_parse_pod_dir(cases[i].dir, &pod), cases[i].ret);
		expect_str(cases[i].name, pod.ns, cases[i].ns);
		expect_str(cases[i].name, pod.name, cases[i].pod);
		expect_str(cases[i].name, pod.uid, cases[i].uid);
	}
}

static void test_container_log_names(void **state)
{
	static const struct {
		const char *name, *file;
		int ret;
		const char *want;
	} cases[] = {
		{ "match", "web-7d9f_default_app-" ID ".log", 0, "app" },
		{ "dashes in the container name", "web-7d9f_default_log-shipper-" ID ".log", 0,
		  "log-shipper" },
		{ "another container id", "web-7d9f_default_app-" ID2 ".log", -ENOENT, "" },
		{ "another pod", "web-1_default_app-" ID ".log", -ENOENT, "" },
		{ "another namespace", "web-7d9f_prod_app-" ID ".log", -ENOENT, "" },
		{ "no container name", "web-7d9f_default_-" ID ".log", -ENOENT, "" },
		{ "not a log", "web-7d9f_default_app-" ID ".txt", -ENOENT, "" },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char out[64] = "";

		expect_int(cases[i].name,
			   identity_parse_container_log(cases[i].file, "web-7d9f", "default", ID, out,
							sizeof(out)),
			   cases[i].ret);
		expect_str(cases[i].name, out, cases[i].want);
	}
}

static char tmpdir[] = "/tmp/test_identity.XXXXXX";

static void mk(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void mk(const char *fmt, ...)
{
	char path[512];
	va_list ap;
	int n;

	n = snprintf(path, sizeof(path), "%s/", tmpdir);
	va_start(ap, fmt);
	vsnprintf(path + n, sizeof(path) - (size_t)n, fmt, ap);
	va_end(ap);
	if (path[strlen(path) - 1] == '/') {
		char cmd[600];

		snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", path);
		assert_int_equal(system(cmd), 0);
	} else {
		FILE *f = fopen(path, "w");

		assert_non_null(f);
		fclose(f);
	}
}

static int setup_tmpdir(void **state)
{
	(void)state;
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_tmpdir(void **state)
{
	char cmd[64];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_k8s_labels_from_the_pods_log_dir(void **state)
{
	static const char *const uid_b = "11111111-2222-3333-4444-555555555555";
	static const char *const uid_c = "66666666-7777-8888-9999-000000000000";
	static const struct {
		const char *name, *uid, *container_id;
		int ret;
		const char *ns, *pod, *container;
	} cases[] = {
		{ "one container", UID, ID, 0, "default", "web-7d9f", "app" },
		{ "one container, id unknown", UID, "", 0, "default", "web-7d9f", "app" },
		{ "two containers, named by /var/log/containers", "11111111-2222-3333-4444-555555555555",
		  ID, 0, "shop", "cart-0", "cart" },
		{ "two containers, the other one", "11111111-2222-3333-4444-555555555555", ID2, 0,
		  "shop", "cart-0", "envoy" },
		{ "two containers, named by a docker log symlink",
		  "66666666-7777-8888-9999-000000000000", ID2, 0, "legacy", "old-1", "worker" },
		{ "two containers, id unknown", "66666666-7777-8888-9999-000000000000", "", 0, "legacy",
		  "old-1", "" },
		{ "no pod directory", "99999999-7777-8888-9999-000000000000", ID, -ENOENT, "", "", "" },
	};
	char pods[256];

	(void)state;
	mk("pods/default_web-7d9f_%s/app/", UID);
	mk("pods/default_web-7d9f_%s/app/0.log", UID);
	mk("pods/shop_cart-0_%s/cart/", uid_b);
	mk("pods/shop_cart-0_%s/envoy/", uid_b);
	mk("containers/");
	mk("containers/cart-0_shop_cart-%s.log", ID);
	mk("containers/cart-0_shop_envoy-%s.log", ID2);
	mk("pods/legacy_old-1_%s/web/", uid_c);
	mk("pods/legacy_old-1_%s/worker/", uid_c);
	mk("pods/not-a-pod/");
	{
		char link[512];

		snprintf(link, sizeof(link), "%s/pods/legacy_old-1_%s/worker/0.log", tmpdir, uid_c);
		assert_int_equal(symlink("/var/lib/docker/containers/" ID2 "/" ID2 "-json.log", link),
				 0);
	}
	snprintf(pods, sizeof(pods), "%s/pods/", tmpdir);
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct sockeye_identity id;

		memset(&id, 0, sizeof(id));
		expect_int(cases[i].name,
			   identity_k8s_lookup(pods, cases[i].uid, cases[i].container_id, &id),
			   cases[i].ret);
		expect_str(cases[i].name, id.v[SOCKEYE_ID_K8S_NAMESPACE_NAME], cases[i].ns);
		expect_str(cases[i].name, id.v[SOCKEYE_ID_K8S_POD_NAME], cases[i].pod);
		expect_str(cases[i].name, id.v[SOCKEYE_ID_K8S_CONTAINER_NAME], cases[i].container);
		expect_str(cases[i].name, id.v[SOCKEYE_ID_SERVICE_NAME], "");
	}
	expect_int("missing pods log dir", identity_k8s_lookup("/nonexistent/pods", UID, ID,
							       &(struct sockeye_identity){ 0 }),
		   -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cgroup_path_gives_container_id_and_pod_uid_for_every_layout),
		cmocka_unit_test(test_environ_service_name_from_otel_variables),
		cmocka_unit_test(test_copy_utf8_never_splits_a_character),
		cmocka_unit_test(test_process_name_is_the_executed_name),
		cmocka_unit_test(test_first_rule_whose_every_criterion_holds_wins),
		cmocka_unit_test(test_pod_log_dir_names),
		cmocka_unit_test(test_container_log_names),
		cmocka_unit_test(test_k8s_labels_from_the_pods_log_dir),
	};

	return cmocka_run_group_tests(tests, setup_tmpdir, remove_tmpdir);
}
