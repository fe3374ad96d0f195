%% @doc The module `bench/empty_nif' (libemqx_bench_empty.so) binds to:
%% `noop/0' is the cheapest possible NIF call, a floor for every NIF path.
%%
%% Loaded from an explicit path (the library is built into the cargo
%% target directory, not into an application's priv/).
-module(emqx_bench_empty).

-export([load/1, noop/0]).

%% @doc Loads the library at `Path' (with or without the `.so' extension).
-spec load(file:filename()) -> ok | {error, term()}.
load(Path) ->
    Base = case filename:extension(Path) of
               ".so" -> filename:rootname(Path);
               _ -> Path
           end,
    case erlang:load_nif(Base, 0) of
        ok -> ok;
        {error, {reload, _}} -> ok;
        {error, _} = E -> E
    end.

%% @doc Returns `ok'; replaced by the NIF.
-spec noop() -> ok.
noop() ->
    erlang:nif_error(nif_not_loaded).
