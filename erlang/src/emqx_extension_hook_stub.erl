%% @doc Builds the module a NIF handler library is loaded into.
%%
%% `erlang:load_nif/2' loads a library only into the module whose name the
%% library gives (the SDK's `nif_init' takes it from the name of the
%% private copy, see `emqx_extension_hook_library'), and only from code of
%% that module. So each library instance gets a module made here, holding
%% the NIF stubs the library replaces (see the SDK's `runtime' module for
%% what each does) and `'$load_nif'/1', which loads it.
%%
%% A module whose instance has stopped is never deleted: a fresh stub
%% without the library replaces it (see `emqx_extension_hook_driver'), so
%% a caller that still holds the stopped instance gets `nif_not_loaded'
%% from it, where a deleted module would send the call through the code
%% server to look for a file that does not exist.
-module(emqx_extension_hook_stub).

-export([forms/1, load/1, is_stub/1, has_library/1]).

%% Marks a module built here, so a module of the same name from anywhere
%% else is never replaced.
-define(MARK, emqx_extension_hook_stub).

-define(NIFS, [{hook_names, 0}, {driver_init, 3}, {driver_deinit, 2},
               {driver_call, 4}, {driver_call_dirty_cpu, 4}, {driver_call_dirty_io, 4},
               {driver_submit, 5}, {driver_abandon, 2}, {driver_cast, 4},
               {driver_stats, 1}, {driver_queue_depth, 1}, {log_level, 1},
               {driver_counters, 1}]).

%% @doc Compiles and loads the stub module `Module' as its current code;
%% the caller purges any old code first.
-spec load(module()) -> ok | {error, term()}.
load(Module) ->
    case compile:forms(forms(Module), [binary, return_errors]) of
        {ok, Module, Beam} ->
            case code:load_binary(Module, "emqx_extension_hook_stub", Beam) of
                {module, Module} -> ok;
                {error, Reason} -> {error, {load_stub, Module, Reason}}
            end;
        {error, Errors, _Warnings} ->
            {error, {compile_stub, Module, Errors}}
    end.

%% @doc True if `Module' is loaded and was built here (asked without
%% loading it).
-spec is_stub(module()) -> boolean().
is_stub(Module) ->
    try erlang:get_module_info(Module, attributes) of
        Attributes -> lists:keymember(?MARK, 1, Attributes)
    catch
        error:badarg -> false
    end.

%% @doc True if stub `Module' has its library loaded.
-spec has_library(module()) -> boolean().
has_library(Module) ->
    try Module:hook_names() of
        _ -> true
    catch
        error:_ -> false
    end.

%% @doc The abstract forms of the stub module `Module'.
-spec forms(module()) -> [erl_parse:abstract_form()].
forms(Module) ->
    Exports = [{load_nif_name(), 1} | ?NIFS],
    Source = [io_lib:format("-module(~p).~n", [Module]),
              io_lib:format("-~p(true).~n", [?MARK]),
              io_lib:format("-export([~ts]).~n",
                            [lists:join(", ", [io_lib:format("~p/~p", [F, A]) || {F, A} <- Exports])]),
              io_lib:format("~p(Path) -> erlang:load_nif(Path, 0).~n", [load_nif_name()]),
              [nif_stub(Name, Arity) || {Name, Arity} <- ?NIFS]],
    parse(lists:flatten(Source)).

load_nif_name() -> '$load_nif'.

nif_stub(Name, Arity) ->
    Args = lists:join(", ", ["_" || _ <- lists:seq(1, Arity)]),
    io_lib:format("~p(~s) -> erlang:nif_error(nif_not_loaded).~n", [Name, Args]).

parse(Source) ->
    {ok, Tokens, _} = erl_scan:string(Source),
    [begin {ok, Form} = erl_parse:parse_form(F), Form end || F <- split_forms(Tokens, [])].

split_forms([], []) -> [];
split_forms([{dot, _} = Dot | Rest], Acc) -> [lists:reverse([Dot | Acc]) | split_forms(Rest, [])];
split_forms([T | Rest], Acc) -> split_forms(Rest, [T | Acc]).
