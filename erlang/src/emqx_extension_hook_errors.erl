%% @doc Why a driver could not be enabled, in words an operator can act
%% on: what is wrong and, where one exists, the config key that fixes it.
%% Used by the plugin's start, the CLI, the log and the HTTP API. A reason
%% may quote a handler's own error, which may quote a setting (a database
%% URL): secrets in it are hidden (emqx_extension_hook_redact).
-module(emqx_extension_hook_errors).

-export([text/2]).

%% @doc `Reason' of driver `Name', as text.
-spec text(binary(), term()) -> string().
text(Name, Reason) ->
    unicode:characters_to_list(
      emqx_extension_hook_redact:text(unicode:characters_to_binary(reason(Name, Reason)))).

reason(Name, {missing, Key}) ->
    io_lib:format("~ts is not set", [key(Name, Key)]);
reason(Name, {invalid, Key, Value}) ->
    io_lib:format("~ts: ~0p is not a valid value", [key(Name, Key), Value]);
reason(Name, {invalid_driver_name, _}) ->
    io_lib:format("the driver name ~ts is invalid: use letters, digits, _ and -", [Name]);
reason(Name, {unsupported_kind, python2}) ->
    io_lib:format("python2 is not supported (Python 2 is past its end of life): run the "
                  "handler on Python 3 with ~ts = python3", [key(Name, kind)]);
reason(Name, {invalid_for_kind, python3, Key, inline}) ->
    io_lib:format("~ts = inline is not allowed for a Python driver: Python never runs on the "
                  "broker's schedulers (use pool, the default)", [key(Name, Key)]);
reason(Name, {invalid_for_kind, java, transport, Value}) ->
    io_lib:format("~ts = ~0p is not allowed for a Java driver: a JVM always runs out of "
                  "process (transport = port)", [key(Name, transport), Value]);
reason(Name, {invalid_for_kind, Kind, Key, Value}) ->
    io_lib:format("~ts = ~0p is not allowed for a ~ts driver", [key(Name, Key), Value, Kind]);
reason(Name, {not_a_fold_hook, Hook}) ->
    io_lib:format("~ts: ~ts takes no decision, so it has no mode (it is always queued)",
                  [key(Name, "hook." ++ atom_to_list(Hook) ++ ".mode"), Hook]);
reason(_Name, {unknown_hook, Hook}) ->
    io_lib:format("unknown hook ~0p", [Hook]);
reason(_Name, {not_text, Value}) ->
    io_lib:format("~0p is not text", [Value]);
reason(_Name, {not_a_proplist, Value}) ->
    io_lib:format("the driver's config is not a list of keys: ~0p", [Value]);
reason(Name, not_configured) ->
    io_lib:format("driver ~ts is not configured (no exhook.drivers.~ts.* keys)", [Name, Name]);
reason(Name, already_enabled) ->
    io_lib:format("driver ~ts is already enabled", [Name]);
reason(Name, not_enabled) ->
    io_lib:format("driver ~ts is not enabled", [Name]);

reason(Name, {library_missing, Path}) ->
    io_lib:format("~ts: no such file (~ts)", [Path, key(Name, path)]);
reason(Name, {library_unreadable, Path, Why}) ->
    io_lib:format("~ts cannot be read: ~ts (~ts)", [Path, file:format_error(Why), key(Name, path)]);
reason(Name, {library_not_a_file, Path, Type}) ->
    io_lib:format("~ts is a ~p, not a library file (~ts)", [Path, Type, key(Name, path)]);
reason(Name, {not_a_library, Path, Why}) ->
    io_lib:format("~ts is not a shared library (~ts): ~ts", [Path, key(Name, path), Why]);
reason(Name, {not_a_handler_library, Path}) ->
    io_lib:format("~ts is a shared library but not a handler library: it has no "
                  "emqx-extension-sdk entry point (build it with export_handler! of "
                  "emqx-extension-sdk) (~ts)", [Path, key(Name, path)]);
reason(_Name, {library_abi, Path, Abi, Expected}) ->
    io_lib:format("~ts was built with another version of emqx-extension-sdk (interface ~ts; "
                  "this plugin loads interface ~b): rebuild it against this plugin's SDK",
                  [Path, Abi, Expected]);
reason(_Name, {library_crashed, Path, Status}) ->
    io_lib:format("loading ~ts crashed the process that checks libraries (exit status ~b): "
                  "its load-time code fails; it was not loaded into the broker", [Path, Status]);
reason(_Name, {library_probe_timeout, Path}) ->
    io_lib:format("loading ~ts did not finish in the process that checks libraries; it was "
                  "not loaded into the broker", [Path]);
reason(_Name, {library_probe, Path, Text}) ->
    io_lib:format("~ts could not be checked: ~ts", [Path, Text]);
reason(Name, {init_module_mismatch, Path, BuiltFor, Expected}) ->
    io_lib:format("~ts was built for module ~ts (export_handler!), not ~ts: set ~ts = ~ts, or "
                  "remove the key", [Path, BuiltFor, Expected, key(Name, init_module), BuiltFor]);
reason(_Name, {library_dir_mode, Dir, Mode}) ->
    io_lib:format("refusing to load handler libraries from ~ts: other users can write to it "
                  "(mode ~.8b); it must be a directory only the broker's user can write (0700)",
                  [Dir, Mode]);
reason(_Name, {library_dir_owner, Dir, Owner, Me}) ->
    io_lib:format("refusing to load handler libraries from ~ts: it belongs to user ~b, not to "
                  "the broker's user ~b; remove it, and the plugin creates it with mode 0700",
                  [Dir, Owner, Me]);
reason(_Name, {library_dir_type, Dir, Type}) ->
    io_lib:format("refusing to load handler libraries from ~ts: it is a ~p, not a directory",
                  [Dir, Type]);
reason(_Name, {library_dir, Dir, Why}) ->
    io_lib:format("cannot use ~ts for handler library copies: ~ts", [Dir, file:format_error(Why)]);
reason(_Name, {copy_library, Copy, Why}) ->
    io_lib:format("cannot write the private copy ~ts: ~ts", [Copy, file:format_error(Why)]);
reason(_Name, {module_busy, Module}) ->
    io_lib:format("an earlier instance of this driver still has calls running in ~p; try again",
                  [Module]);
reason(Name, {module_in_use, Module}) ->
    Text = atom_to_binary(Module, utf8),
    Prefix = <<"emqx_extension_hook_nif_", Name/binary, "_">>,
    case binary:longest_common_prefix([Text, Prefix]) =:= byte_size(Prefix) of
        %% The issue this answers asked for the init_module key; that key no
        %% longer names the module (etc/emqx.conf became module emqx that
        %% way), so the text says what does.
        true ->
            io_lib:format("the library would be loaded into module ~ts, but a module of that "
                          "name exists and does not belong to this plugin: the module name comes "
                          "from the driver's name, not from ~ts or the library, so give the "
                          "driver another name (exhook.drivers.OTHER.*)",
                          [Text, key(Name, init_module)]);
        false ->
            io_lib:format("module ~ts exists and does not belong to this plugin", [Text])
    end;
reason(_Name, {load_nif, Path, Text}) ->
    io_lib:format("the VM could not load ~ts: ~ts", [Path, text(Text)]);
reason(_Name, {sdk_hook_table_mismatch, _}) ->
    "the library's hook table differs from this plugin's: rebuild it against this plugin's SDK";
reason(_Name, {init_failed, {panic, Message}}) ->
    io_lib:format("the handler's init panicked: ~ts", [text(Message)]);
reason(_Name, {init_failed, Message}) ->
    io_lib:format("the handler's init failed: ~ts", [text(Message)]);
reason(_Name, {bad_init_reply, Reply}) ->
    io_lib:format("the handler process answered its init with ~0p", [Reply]);
reason(_Name, init_timeout) ->
    "the handler process did not finish its init in time";
reason(_Name, {exited, Status}) ->
    io_lib:format("the handler process exited during its init (status ~b)", [Status]);
reason(_Name, Other) ->
    io_lib:format("~0p", [Other]).

key(Name, Key) ->
    io_lib:format("exhook.drivers.~ts.~ts", [Name, Key]).

text(T) when is_binary(T) -> T;
text(T) when is_list(T) ->
    case io_lib:printable_unicode_list(T) of
        true -> T;
        false -> io_lib:format("~0p", [T])
    end;
text(T) -> io_lib:format("~0p", [T]).
