%% @doc The broker callbacks of every driver: one function per hook point,
%% registered as `{emqx_extension_hook_callbacks, Function, [Key]}' with
%% the driver's persistent_term key as the extra argument (see
%% `emqx_extension_hook_drivers'). Each hands the hook's arguments, as a
%% tuple, to `emqx_extension_hook_handler'.
%%
%% Two drivers register the same functions with different keys; the
%% broker removes a callback by its exact `{M, F, Args}', so unhooking one
%% driver never touches another.
-module(emqx_extension_hook_callbacks).

-export([on_client_connect/3, on_client_connack/4, on_client_connected/3,
         on_client_disconnected/4, on_client_authenticate/3, on_client_check_acl/5,
         on_client_subscribe/4, on_client_unsubscribe/4, on_session_created/3,
         on_session_subscribed/4, on_session_unsubscribed/4, on_session_resumed/3,
         on_session_discarded/3, on_session_takeovered/3, on_session_terminated/4,
         on_message_publish/2, on_message_delivered/3, on_message_acked/3,
         on_message_dropped/4]).

-import(emqx_extension_hook_handler, [fold/4, notify/3]).

-type key() :: emqx_extension_hook_handler:key().

%% The index of each hook is its place in emqx_extension_hook_hooks:all().

-spec on_client_connect(map(), term(), key()) -> term().
on_client_connect(ConnInfo, Props, Key) ->
    fold(Key, 0, 'client.connect', {ConnInfo, Props}).

-spec on_client_connack(map(), atom(), term(), key()) -> ok.
on_client_connack(ConnInfo, Reason, Props, Key) ->
    notify(Key, 1, {ConnInfo, Reason, Props}).

-spec on_client_connected(map(), map(), key()) -> ok.
on_client_connected(ClientInfo, ConnInfo, Key) ->
    notify(Key, 2, {ClientInfo, ConnInfo}).

-spec on_client_disconnected(map(), term(), map(), key()) -> ok.
on_client_disconnected(ClientInfo, Reason, ConnInfo, Key) ->
    notify(Key, 3, {ClientInfo, Reason, ConnInfo}).

-spec on_client_authenticate(map(), map(), key()) -> term().
on_client_authenticate(ClientInfo, Result, Key) ->
    fold(Key, 4, 'client.authenticate', {ClientInfo, Result}).

-spec on_client_check_acl(map(), publish | subscribe, binary(), allow | deny, key()) -> term().
on_client_check_acl(ClientInfo, PubSub, Topic, Result, Key) ->
    fold(Key, 5, 'client.check_acl', {ClientInfo, PubSub, Topic, Result}).

-spec on_client_subscribe(map(), term(), list(), key()) -> term().
on_client_subscribe(ClientInfo, Props, TopicFilters, Key) ->
    fold(Key, 6, 'client.subscribe', {ClientInfo, Props, TopicFilters}).

-spec on_client_unsubscribe(map(), term(), list(), key()) -> ok.
on_client_unsubscribe(ClientInfo, Props, TopicFilters, Key) ->
    notify(Key, 7, {ClientInfo, Props, TopicFilters}).

-spec on_session_created(map(), map(), key()) -> ok.
on_session_created(ClientInfo, SessInfo, Key) ->
    notify(Key, 8, {ClientInfo, SessInfo}).

-spec on_session_subscribed(map(), binary(), map(), key()) -> ok.
on_session_subscribed(ClientInfo, Topic, SubOpts, Key) ->
    notify(Key, 9, {ClientInfo, Topic, SubOpts}).

-spec on_session_unsubscribed(map(), binary(), map(), key()) -> ok.
on_session_unsubscribed(ClientInfo, Topic, SubOpts, Key) ->
    notify(Key, 10, {ClientInfo, Topic, SubOpts}).

-spec on_session_resumed(map(), map(), key()) -> ok.
on_session_resumed(ClientInfo, SessInfo, Key) ->
    notify(Key, 11, {ClientInfo, SessInfo}).

-spec on_session_discarded(map(), map(), key()) -> ok.
on_session_discarded(ClientInfo, SessInfo, Key) ->
    notify(Key, 12, {ClientInfo, SessInfo}).

-spec on_session_takeovered(map(), map(), key()) -> ok.
on_session_takeovered(ClientInfo, SessInfo, Key) ->
    notify(Key, 13, {ClientInfo, SessInfo}).

-spec on_session_terminated(map(), term(), map(), key()) -> ok.
on_session_terminated(ClientInfo, Reason, SessInfo, Key) ->
    notify(Key, 14, {ClientInfo, Reason, SessInfo}).

-spec on_message_publish(tuple(), key()) -> term().
on_message_publish(Message, Key) ->
    fold(Key, 15, 'message.publish', {Message}).

-spec on_message_delivered(map(), tuple(), key()) -> term().
on_message_delivered(ClientInfo, Message, Key) ->
    fold(Key, 16, 'message.delivered', {ClientInfo, Message}).

-spec on_message_acked(map(), tuple(), key()) -> ok.
on_message_acked(ClientInfo, Message, Key) ->
    notify(Key, 17, {ClientInfo, Message}).

-spec on_message_dropped(tuple(), map(), term(), key()) -> ok.
on_message_dropped(Message, ByNode, Reason, Key) ->
    notify(Key, 18, {Message, ByNode, Reason}).
