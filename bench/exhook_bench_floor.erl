%% @doc The floors the plugin's callbacks are compared with, written as
%% broker hook callbacks with the same arguments and the same return
%% values as the benchmark handler (bench/handler) gives through the
%% plugin:
%%
%% - `on_client_authenticate/3': the same check in pure Erlang
%%   (a non-empty clientid with a password or a username);
%% - `on_client_check_acl/5': deny an empty or missing username;
%% - `on_message_publish/2': look at the topic and the payload's size;
%% - `on_client_connected/3': add one to a counter (`counters', in place);
%% - `empty_nif/3': the hook callback shape around the empty NIF
%%   (`emqx_bench_empty:noop/0'), for the NIF call floor.
-module(exhook_bench_floor).

-export([on_client_authenticate/3, on_client_check_acl/5, on_message_publish/2,
         on_client_connected/3, empty_nif/3]).

%% @doc `client.authenticate', in Erlang.
-spec on_client_authenticate(map(), map(), term()) -> {stop, map()}.
on_client_authenticate(#{clientid := ClientId} = ClientInfo, Acc, _Extra) ->
    Secret = non_empty(maps:get(password, ClientInfo, undefined))
        orelse non_empty(maps:get(username, ClientInfo, undefined)),
    Result = case non_empty(ClientId) andalso Secret of
                 true -> success;
                 false -> not_authorized
             end,
    {stop, Acc#{auth_result => Result, anonymous => false, is_superuser => false}}.

%% @doc `client.check_acl', in Erlang.
-spec on_client_check_acl(map(), publish | subscribe, binary(), allow | deny, term()) ->
          {stop, allow | deny}.
on_client_check_acl(ClientInfo, _PubSub, _Topic, _SoFar, _Extra) ->
    case non_empty(maps:get(username, ClientInfo, undefined)) of
        true -> {stop, allow};
        false -> {stop, deny}
    end.

%% @doc `message.publish', in Erlang: reads the topic and the payload size.
-spec on_message_publish(tuple(), counters:counters_ref()) -> ok.
on_message_publish({message, _Id, _QoS, _From, _Flags, _Headers, Topic, Payload, _Ts}, Counter) ->
    counters:add(Counter, 1, byte_size(Topic) + byte_size(Payload)),
    ok.

%% @doc `client.connected', in Erlang: counts, in the caller.
-spec on_client_connected(map(), map(), counters:counters_ref()) -> ok.
on_client_connected(_ClientInfo, _ConnInfo, Counter) ->
    counters:add(Counter, 1, 1),
    ok.

%% @doc The empty NIF behind a hook callback of `client.authenticate''s shape.
-spec empty_nif(map(), map(), term()) -> ok.
empty_nif(_ClientInfo, _Acc, _Extra) ->
    emqx_bench_empty:noop().

non_empty(undefined) -> false;
non_empty(<<>>) -> false;
non_empty(B) when is_binary(B) -> true;
non_empty(_) -> false.
