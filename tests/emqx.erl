%% Test stand-in for the EMQX 4.4 `emqx' module: only the hook functions
%% the plugin calls, delegating to the stand-in `emqx_hooks' exactly as
%% emqx.erl does in 4.4.
-module(emqx).

-export([hook/2, hook/3, unhook/2]).

hook(HookPoint, Action) ->
    emqx_hooks:add(HookPoint, Action).

hook(HookPoint, Action, Priority) when is_integer(Priority) ->
    emqx_hooks:add(HookPoint, Action, Priority);
hook(HookPoint, Action, {_M, _F, _A} = Filter) ->
    emqx_hooks:add(HookPoint, Action, Filter);
hook(HookPoint, Action, InitArgs) when is_list(InitArgs) ->
    emqx_hooks:add(HookPoint, Action, InitArgs).

unhook(HookPoint, Action) ->
    emqx_hooks:del(HookPoint, Action).
