%% Test stand-in for how EMQX 4.4's management API (emqx_management on
%% minirest) serves a plugin's endpoints:
%%
%% - the routes come from the `rest_api' attributes of every module of the
%%   plugin's application; each is a map with `name', `method', `path',
%%   `func' and `descr' (checked here: `check/1' lists what is wrong);
%% - a request's path, after the `/api/v4' prefix, is split on `/' and
%%   matched segment by segment against the route's: `:bin:NAME' binds the
%%   segment as a binary, `:int:NAME' as an integer, `:atom:NAME' as an
%%   atom that already exists (else no match);
%% - `Module:Func(Bindings, Params)' is called with the bindings (atom
%%   keys) and `[{Key, Value}]' from the query string (binaries) and the
%%   JSON body's object;
%% - `{ok, Term}' is 200, `{Code, Term}' is status Code, `{error, Term}' is
%%   500, each with Term as JSON (exhook_json: a term EMQX could not
%%   encode fails the test); an exception is 500;
%% - a request no route matches, or made while the plugin is not running,
%%   is 404.
-module(exhook_rest_router).

-export([routes/1, modules_routes/1, check/1, request/3, request/4, serve/4]).

-define(PREFIX, "/api/v4").
-define(KEYS, [descr, func, method, name, path]).
-define(METHODS, ['GET', 'POST', 'PUT', 'DELETE']).

%% Every `rest_api' attribute of application `App''s modules, as
%% `[{Module, Attribute}]'; fails on a malformed one.
routes(App) ->
    _ = application:load(App),
    {ok, Modules} = application:get_key(App, modules),
    modules_routes(Modules).

%% The same for `Modules'.
modules_routes(Modules) ->
    Attrs = [{M, A} || M <- Modules, {rest_api, [A]} <- M:module_info(attributes)],
    case check(Attrs) of
        [] -> Attrs;
        Problems -> error({malformed_rest_api, Problems})
    end.

%% What is wrong with `[{Module, Attribute}]': `[{Module, Name, Problem}]'.
check(Attrs) ->
    Each = [{M, name_of(A), P} || {M, A} <- Attrs, P <- problems(M, A)],
    Names = [N || {_, #{name := N}} <- Attrs],
    Routes = [{Method, shape(Path)} || {_, #{method := Method, path := Path}} <- Attrs,
                                        is_list(Path), io_lib:printable_list(Path)],
    Each ++ [{any, N, duplicate_name} || N <- lists:usort(Names -- lists:usort(Names))]
        ++ [{any, R, duplicate_route} || R <- lists:usort(Routes -- lists:usort(Routes))].

name_of(#{name := N}) -> N;
name_of(_) -> unnamed.

problems(_M, A) when not is_map(A) -> [not_a_map];
problems(M, A) ->
    Keys = lists:sort(maps:keys(A)),
    [{missing, K} || K <- ?KEYS -- Keys] ++ [{unknown_key, K} || K <- Keys -- ?KEYS]
        ++ [P || {K, V} <- maps:to_list(A), lists:member(K, ?KEYS), P <- value(M, K, V)].

value(_M, name, N) when is_atom(N) -> [];
value(_M, method, Method) ->
    [{method, Method} || not lists:member(Method, ?METHODS)];
value(_M, path, "/" ++ _ = Path) ->
    case io_lib:printable_list(Path) of
        true -> segments(Path);
        false -> [{path, Path}]
    end;
value(M, func, F) when is_atom(F) ->
    _ = code:ensure_loaded(M),
    [{not_exported, {M, F, 2}} || not erlang:function_exported(M, F, 2)];
value(_M, descr, [_ | _] = D) ->
    [{descr, D} || not io_lib:printable_unicode_list(D)];
value(_M, K, V) ->
    [{K, V}].

segments(Path) ->
    Segs = string:lexemes(Path, "/"),
    Bound = [Name || ":" ++ Var <- Segs, {_, Name} <- [binding(Var)]],
    [{segment, S} || S <- Segs, not segment(S)]
        ++ [{duplicate_binding, B} || B <- lists:usort(Bound -- lists:usort(Bound))].

segment(":" ++ Var) -> binding(Var) =/= bad;
segment(Literal) -> re:run(Literal, "^[A-Za-z0-9_.-]+$", [{capture, none}]) =:= match.

binding(Var) ->
    case string:split(Var, ":") of
        [Type, Name] when Type =:= "bin"; Type =:= "int"; Type =:= "atom" ->
            case re:run(Name, "^[a-z][a-z0-9_]*$", [{capture, none}]) of
                match -> {list_to_atom(Type), Name};
                nomatch -> bad
            end;
        _ ->
            bad
    end.

%% A path with its bindings' names left out: two routes of one method
%% with the same shape are ambiguous.
shape(Path) ->
    [case {S, binding(tl(S))} of
         {":" ++ _, {Type, _Name}} -> Type;
         _ -> S
     end || S <- string:lexemes(Path, "/")].

%% A request to the running node: `{Status, Body}'.
request(Method, Url, App) ->
    request(Method, Url, <<>>, App).

request(Method, Url, Body, App) ->
    case lists:keymember(App, 1, application:which_applications()) of
        true -> serve(Method, Url, Body, routes(App));
        false -> not_found()
    end.

%% A request served from `Routes'.
serve(Method, Url, Body, Routes) ->
    [Path | Query] = string:split(Url, "?"),
    case string:prefix(Path, ?PREFIX) of
        nomatch ->
            not_found();
        Rel ->
            Segs = [list_to_binary(S) || S <- string:lexemes(Rel, "/")],
            case match(Method, Segs, Routes) of
                {ok, M, F, Bindings} -> call(M, F, Bindings, params(Query, Body));
                nomatch -> not_found()
            end
    end.

not_found() ->
    {404, <<"Not Found">>}.

match(_Method, _Segs, []) ->
    nomatch;
match(Method, Segs, [{M, #{method := Method, path := Path, func := F}} | Rest]) ->
    case bind(string:lexemes(Path, "/"), Segs, #{}) of
        {ok, Bindings} -> {ok, M, F, Bindings};
        nomatch -> match(Method, Segs, Rest)
    end;
match(Method, Segs, [_ | Rest]) ->
    match(Method, Segs, Rest).

bind([], [], Bindings) ->
    {ok, Bindings};
bind([":" ++ Var | Pattern], [Seg | Segs], Bindings) ->
    {Type, Name} = binding(Var),
    try value_of(Type, Seg) of
        Value -> bind(Pattern, Segs, Bindings#{list_to_atom(Name) => Value})
    catch
        error:badarg -> nomatch
    end;
bind([Literal | Pattern], [Seg | Segs], Bindings) ->
    case list_to_binary(Literal) of
        Seg -> bind(Pattern, Segs, Bindings);
        _ -> nomatch
    end;
bind(_, _, _) ->
    nomatch.

value_of(bin, Seg) -> Seg;
value_of(int, Seg) -> binary_to_integer(Seg);
value_of(atom, Seg) -> binary_to_existing_atom(Seg, utf8).

params(Query, Body) ->
    FromQuery = case Query of
                    [Q] -> [{unicode:characters_to_binary(K), unicode:characters_to_binary(V)}
                            || {K, V} <- uri_string:dissect_query(Q)];
                    [] -> []
                end,
    FromBody = case Body of
                   <<>> -> [];
                   _ -> maps:to_list(exhook_json:decode(Body))
               end,
    FromBody ++ FromQuery.

call(M, F, Bindings, Params) ->
    try M:F(Bindings, Params) of
        {ok, Term} -> {200, exhook_json:encode(Term)};
        {Code, Term} when is_integer(Code) -> {Code, exhook_json:encode(Term)};
        {error, Term} -> {500, exhook_json:encode(Term)};
        Other -> error({bad_return, {M, F}, Other})
    catch
        Class:Reason:Stack ->
            ct:pal("~p:~p(~0p, ~0p) raised ~p:~p~n~p", [M, F, Bindings, Params, Class, Reason, Stack]),
            {500, <<"Internal Error">>}
    end.
