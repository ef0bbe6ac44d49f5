#!/usr/bin/perl
# fcgi_app.pl: the cgibench reference app in Perl 5 as a FastCGI responder (FCGI.pm, Debian
# package libfcgi-perl). It accepts on the listening socket passed as file descriptor 0
# (FCGI_LISTENSOCK_FILENO), the way a FastCGI process manager starts its workers, and serves one
# request at a time with the app logic of app.pl beside this file.
use strict;
use warnings;

use FCGI;

BEGIN {
    # A relative path for require would be searched in @INC, not here: make it explicit.
    my $dir = __FILE__ =~ m{\A(.*)/} ? $1 : '.';
    $dir = "./$dir" unless substr($dir, 0, 1) eq "/";
    require "$dir/app.pl";
}

# Each Accept fills %env with the request's params (instead of overwriting %ENV) and ties
# STDIN, STDOUT and STDERR to the request's FastCGI streams until the next Accept.
my %env;
my $request = FCGI::Request(\*STDIN, \*STDOUT, \*STDERR, \%env, 0, 0);

while ($request->Accept() >= 0) {
    my %req = eval { CGIBench::App::request_from(\%env, \*STDIN) };
    if ($@) {
        print STDERR "fcgi_app.pl: $@";
        next;
    }
    print STDOUT CGIBench::App::handle(%req);
}
