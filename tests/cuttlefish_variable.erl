%% @doc Test stand-in for cuttlefish's `cuttlefish_variable' module, which
%% is not installed here.
%%
%% Semantics read from the public sources (Apache-2.0), not copied:
%% basho/cuttlefish src/cuttlefish_variable.erl (EMQX's fork
%% emqx/cuttlefish keeps them):
%%
%% - tokenize("a.b\\.c.d") -> ["a", "b.c", "d"]: split on dots, an
%%   escaped dot (backslash, dot) stays in its word, a trailing dot
%%   yields no empty word. Used by cuttlefish:conf_get/2,3 given a
%%   dotted string.
%% - filter_by_prefix(Prefix, Conf): the {Variable, Value} pairs of Conf,
%%   in Conf's order, whose Variable starts with Prefix (a list of
%%   strings, or a dotted string tokenized first).
-module(cuttlefish_variable).

-export([tokenize/1, filter_by_prefix/2]).

-type variable() :: [string()].

-spec tokenize(string()) -> variable().
tokenize(Dotted) ->
    tokenize(Dotted, [], []).

tokenize([$\\, $. | Rest], Word, Words) -> tokenize(Rest, [$. | Word], Words);
tokenize([$. | Rest], Word, Words) -> tokenize(Rest, [], [lists:reverse(Word) | Words]);
tokenize([C | Rest], Word, Words) -> tokenize(Rest, [C | Word], Words);
tokenize([], [], Words) -> lists:reverse(Words);
tokenize([], Word, Words) -> lists:reverse([lists:reverse(Word) | Words]).

-spec filter_by_prefix(string() | variable(), [{variable(), term()}]) ->
          [{variable(), term()}].
filter_by_prefix([Word | _] = Prefix, Conf) when is_list(Word) ->
    [KV || {Variable, _} = KV <- Conf, lists:prefix(Prefix, Variable)];
filter_by_prefix(Dotted, Conf) ->
    filter_by_prefix(tokenize(Dotted), Conf).
