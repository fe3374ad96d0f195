# Entry points; the README lists the two a newcomer needs (demo, test).
SHELL := /bin/bash
PRIV := erlang/priv
EXAMPLES := emqx_example_custom_hook emqx_example_gatekeeper emqx_example_database
# Libraries the plugin loads itself (the python3 driver's handler).
DRIVER_LIBS := emqx_extension_hook_python
PLUGIN_DIR := _build/plugin/emqx_extension_hook

# The Java SDK and the JVM side of the Port transport (java/), built with the
# JDK's own tools; JUnit from Debian's junit5 package.
JAVA_BUILD := _build/java
JAVA_JAR := $(PRIV)/emqx-extension-java.jar
JAVA_EXAMPLES_JAR := $(JAVA_BUILD)/examples/emqx-extension-java-examples.jar
JAVA_SOURCES := $(shell find java/src/main/java -name '*.java' 2>/dev/null)
JAVA_EXAMPLES := $(wildcard java/examples/*.java)
# The benchmark's Java handler (the twin of bench/handler), for make bench.
JAVA_BENCH_JAR := $(JAVA_BUILD)/bench/emqx-bench-java.jar
JAVA_BENCH := $(wildcard bench/java/*.java)
JAVAC := javac -Xlint:all -Xdoclint:all/protected -Werror -encoding UTF-8
JUNIT_JAR ?= /usr/share/java/junit-platform-console-standalone.jar

.PHONY: native java java-bench compile test test-rust test-python test-java test-erlang test-demo lint demo plugin plugin-dir deps pyvenv clean

# Rust workspace in release mode; example libraries into priv/. A library
# a running VM has mapped must not be written over: remove, then copy.
native: java
	cargo build --release --workspace
	mkdir -p $(PRIV)
	for lib in $(EXAMPLES) $(DRIVER_LIBS); do \
	  rm -f $(PRIV)/lib$$lib.so; \
	  cp target/release/lib$$lib.so $(PRIV)/lib$$lib.so; \
	done
	rm -f $(PRIV)/emqx_exhook_port
	cp target/release/emqx_exhook_port $(PRIV)/emqx_exhook_port

# The SDK jar into priv/ (written aside, then moved: a running JVM may have
# the old one open), and the examples' jar for the tests.
java: $(JAVA_JAR) $(JAVA_EXAMPLES_JAR)

$(JAVA_JAR): $(JAVA_SOURCES)
	rm -rf $(JAVA_BUILD)/classes
	mkdir -p $(JAVA_BUILD)/classes $(PRIV)
	$(JAVAC) -d $(JAVA_BUILD)/classes $(JAVA_SOURCES)
	jar --create --file $@.tmp --main-class io.emqx.extension.driver.PortDriver -C $(JAVA_BUILD)/classes .
	mv -f $@.tmp $@

$(JAVA_EXAMPLES_JAR): $(JAVA_JAR) $(JAVA_EXAMPLES)
	rm -rf $(JAVA_BUILD)/example-classes
	mkdir -p $(JAVA_BUILD)/example-classes $(dir $@)
	$(JAVAC) -cp $(JAVA_JAR) -d $(JAVA_BUILD)/example-classes $(JAVA_EXAMPLES)
	jar --create --file $@.tmp -C $(JAVA_BUILD)/example-classes .
	mv -f $@.tmp $@

# The benchmark's Java handler, built as java/examples is (bench/run.sh runs this).
java-bench: $(JAVA_BENCH_JAR)

$(JAVA_BENCH_JAR): $(JAVA_JAR) $(JAVA_BENCH)
	rm -rf $(JAVA_BUILD)/bench-classes
	mkdir -p $(JAVA_BUILD)/bench-classes $(dir $@)
	$(JAVAC) -cp $(JAVA_JAR) -d $(JAVA_BUILD)/bench-classes $(JAVA_BENCH)
	jar --create --file $@.tmp -C $(JAVA_BUILD)/bench-classes .
	mv -f $@.tmp $@

compile:
	rebar3 compile

test: deps lint test-rust test-python test-java test-erlang test-demo bench-smoke

test-java: java
	rm -rf $(JAVA_BUILD)/test-classes
	mkdir -p $(JAVA_BUILD)/test-classes
	javac -Xlint:all -Werror -encoding UTF-8 -cp $(JAVA_JAR):$(JAVA_EXAMPLES_JAR):$(JUNIT_JAR) \
	  -d $(JAVA_BUILD)/test-classes $$(find java/src/test/java -name '*.java')
	java -jar $(JUNIT_JAR) --disable-banner --fail-if-no-tests --details=summary \
	  --class-path $(JAVA_BUILD)/test-classes:$(JAVA_JAR):$(JAVA_EXAMPLES_JAR) --scan-class-path

# The python3 driver's tests need the PyPI SDK (scripts/python-venv.sh) and,
# for loading its library as the VM does, the Port launcher built.
test-rust: pyvenv
	cargo build --workspace
	cargo test --workspace

# The python3 driver's Python support code, with Debian's python3 in _build/pyvenv.
test-python: pyvenv
	PYTHONDONTWRITEBYTECODE=1 _build/pyvenv/bin/python -m pytest -q -p no:cacheprovider native/python/pytests

pyvenv:
	@scripts/python-venv.sh

test-erlang:
	rebar3 do compile, xref, ct

# The demo must keep working: it runs, and the handler decides.
# Both the Rust example and the article's Python CustomHook decide a
# login and an ACL check (the decision columns: Rust, then Python).
test-demo:
	scripts/demo.sh > _build/demo.out 2>&1 || { cat _build/demo.out; exit 1; }
	grep -Eq "client\.authenticate +login refused: not_authorized +login refused: not_authorized$$" _build/demo.out
	grep -Eq "client\.authenticate +login allowed \(anonymous=false\) +login allowed \(anonymous=false\)$$" _build/demo.out
	grep -Eq "client\.check_acl +publish p/1 deny +publish p/1 deny$$" _build/demo.out
	grep -q "\[info\] exhook driver custom: \[on_client_connect\] subA connect" _build/demo.out
	grep -q "\[info\] exhook driver python3: \[Python SDK\] \[on_client_authenticate\] subA authenticate" _build/demo.out
	@echo "demo: ok"

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

demo: deps compile
	@scripts/demo.sh

# The directory that drops into an EMQX 4.4 release as etc/plugins/emqx_extension_hook/.
plugin: compile plugin-dir

# The same, from what `rebar3 compile` already built (APP_BUILD: the
# application's build directory, another profile's for the tests).
APP_BUILD ?= _build/default/lib/emqx_extension_hook
plugin-dir:
	rm -rf $(PLUGIN_DIR)
	mkdir -p $(PLUGIN_DIR)/ebin $(PLUGIN_DIR)/priv $(PLUGIN_DIR)/etc
	cp $(APP_BUILD)/ebin/*.beam $(APP_BUILD)/ebin/emqx_extension_hook.app $(PLUGIN_DIR)/ebin/
	cp erlang/priv/emqx_extension_hook.schema $(PLUGIN_DIR)/priv/
	for lib in $(EXAMPLES) $(DRIVER_LIBS); do cp $(PRIV)/lib$$lib.so $(PLUGIN_DIR)/priv/; done
	cp $(PRIV)/emqx_exhook_port $(PLUGIN_DIR)/priv/
	cp $(JAVA_JAR) $(PLUGIN_DIR)/priv/
	cp erlang/etc/emqx_extension_hook.conf $(PLUGIN_DIR)/etc/
	@echo "plugin directory: $(PLUGIN_DIR)"

# Installs what a fresh Debian 12 machine with Rust lacks.
deps:
	@scripts/install-deps.sh

clean:
	rm -rf _build target $(PRIV)/*.so $(JAVA_JAR)

# The benchmark (bench/README.md): builds in release mode (rebar3
# compile, which runs `make native`: the whole cargo workspace, bench
# crates included, and the Java SDK), measures the hook callbacks in two
# VMs and the saturated broker in a third, runs the database example's
# benchmark and the Python one's, and writes one report:
# bench/results/latest.{md,svg}. About 10 minutes on 2 shared cores.
.PHONY: bench bench-smoke bench-java bench-java-cold
bench:
	BENCH_COMMAND="make bench" bench/run.sh full

# The same code path, a fraction of a second per case (for CI), the
# database benchmark's --quick run included: bench/_build/smoke.{md,svg};
# the committed bench/results/latest.* are left alone.
bench-smoke:
	BENCH_COMMAND="make bench-smoke" bench/run.sh smoke

# The notification path (client.connected cast through the bench handler),
# this tree against BASE (default main) in one VM, alternating rounds:
# caller p50/p99 back to back and sparse, events/s through the handler, CPU
# per event; printed, not asserted (about a minute after the builds).
.PHONY: bench-notify
BASE ?= main
bench-notify:
	bench/notify-ab.sh $(BASE)

# The database example's numbers (logins/s, ACL check cost, writes/s into
# SQLite and PostgreSQL) alone; printed, not asserted. About a minute.
# `make bench` includes them.
.PHONY: bench-database
bench-database: native
	target/release/exhook-db-bench

# The Java rows of `make bench` alone (client.authenticate, client.check_acl
# and client.connected from 1, 8 and 64 callers through a java driver,
# against the Rust handler behind the Port launcher), measured as in the
# full run: bench/_build/java.{md,svg}. About a minute.
bench-java:
	BENCH_COMMAND="make bench-java" bench/run.sh java

# Logins/s through the Python database example (native/python/examples/database)
# on SQLite, 1 and 64 callers, against the Rust database example in the same
# run; printed, not asserted (under a minute).
.PHONY: bench-python-database
BENCH_PYDB_SECONDS ?= 2.0
bench-python-database: compile pyvenv
	mkdir -p bench/_build/ebin
	erlc -o bench/_build/ebin bench/exhook_pydb_bench.erl bench/emqx_metrics.erl
	erl -noshell -pa bench/_build/ebin -pa _build/default/lib/emqx_extension_hook/ebin \
	  -run exhook_pydb_bench main $(CURDIR) $(BENCH_PYDB_SECONDS)

# A fresh handler process with 64 callers at once: the time to its init
# answer (what a reload waits for) and its first calls, Java Gatekeeper
# against the Rust one behind the Port launcher (about 20 s). JVM_ARGS
# adds JVM options; SDK_JAR runs another build of the driver.
BENCH_JAVA_COLD_RUNS ?= 6
bench-java-cold: compile
	mkdir -p bench/_build/ebin
	erlc -o bench/_build/ebin bench/exhook_java_cold.erl
	erl -noshell -pa bench/_build/ebin -pa _build/default/lib/emqx_extension_hook/ebin \
	  -run exhook_java_cold main $(CURDIR) $(BENCH_JAVA_COLD_RUNS)
