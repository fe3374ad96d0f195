%% @doc Test stand-in for cuttlefish's `cuttlefish' module, which is not
%% installed here: the functions a cuttlefish schema's translation may
%% call, with the semantics of cuttlefish as EMQX 4.4 ships it.
%%
%% Semantics read from the public sources (Apache-2.0), not copied:
%% basho/cuttlefish src/cuttlefish.erl and Kyorai/cuttlefish
%% src/cuttlefish.erl (identical for these four functions; EMQX's fork
%% emqx/cuttlefish keeps them), and emqx/cuttlefish
%% src/cuttlefish_generator.erl (try_apply_translation/3, which catches
%% what these throw):
%%
%% - conf_get(Variable, Conf): Variable is a list of strings (or a dotted
%%   string, tokenized as cuttlefish_variable:tokenize/1 does); the value
%%   if the key is in the proplist, else throw({not_found, Variable}),
%%   which the generator reports as translation_missing_setting.
%% - conf_get(Variable, Conf, Default): proplists:get_value/3.
%% - invalid(Reason): throw({invalid, Reason}); the generator reports
%%   translation_invalid_configuration with Reason (printed with ~s).
%% - unset(): throw(unset); the generator leaves the env key out.
-module(cuttlefish).

-export([conf_get/2, conf_get/3, invalid/1, unset/0]).

-type variable() :: [string()].
-type conf() :: [{variable(), term()}].

-spec conf_get(string() | variable(), conf()) -> term().
conf_get([Word | _] = Variable, Conf) when is_list(Word) ->
    case proplists:is_defined(Variable, Conf) of
        true -> proplists:get_value(Variable, Conf);
        false -> throw({not_found, Variable})
    end;
conf_get(Dotted, Conf) ->
    conf_get(cuttlefish_variable:tokenize(Dotted), Conf).

-spec conf_get(string() | variable(), conf(), term()) -> term().
conf_get([Word | _] = Variable, Conf, Default) when is_list(Word) ->
    proplists:get_value(Variable, Conf, Default);
conf_get(Dotted, Conf, Default) ->
    conf_get(cuttlefish_variable:tokenize(Dotted), Conf, Default).

-spec invalid(string()) -> no_return().
invalid(Reason) ->
    throw({invalid, Reason}).

-spec unset() -> no_return().
unset() ->
    throw(unset).
