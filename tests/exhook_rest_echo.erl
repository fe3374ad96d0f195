%% A module with a route of each binding type, for the router stand-in's
%% own test: it answers with what it was called with.
-module(exhook_rest_echo).

-rest_api(#{name => exhook_test_echo,
            method => 'POST',
            path => "/echo/:int:n/:atom:a/:bin:b",
            func => echo,
            descr => "What the route was called with"}).

-export([echo/2]).

echo(#{n := N, a := A, b := B}, Params) when is_integer(N), is_atom(A), is_binary(B) ->
    {ok, #{n => N, a => atom_to_binary(A, utf8), b => B,
           params => [#{key => K, value => V} || {K, V} <- Params]}}.
