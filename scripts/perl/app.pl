#!/usr/bin/perl
# app.pl: the cgibench reference app in Perl 5, run as a CGI program.
#
# The contract is scripts/README.md and the oracle scripts/go/refapp: the bytes this writes on
# stdout must equal refapp.Handle(req).CGI(). fcgi_app.pl loads this file with `require` and
# calls CGIBench::App::handle; run directly, it serves one CGI request (the main guard at the end).
#
# Strings are bytes throughout (no utf8 flag, no locale), so cmp and sort compare bytes and case
# folding is done with tr/A-Z/a-z/, ASCII only.
package CGIBench::App;

use strict;
use warnings;

use constant MAX_WORK => 100000000;

my %ESCAPED = map {
    my $c = chr $_;
    ($c => $c =~ /\A[A-Za-z0-9._~-]\z/ ? $c : sprintf('%%%02X', $_));
} 0 .. 255;

# escape keeps A-Z a-z 0-9 - . _ ~ and writes every other byte as %XX (uppercase hex).
sub escape {
    my ($s) = @_;
    $s =~ s/([^A-Za-z0-9._~-])/$ESCAPED{$1}/g;
    return $s;
}

# unescape decodes + and %XX; a % not followed by two hex digits stays as it is.
sub unescape {
    my ($s) = @_;
    $s =~ tr/+/ /;
    $s =~ s/%([0-9A-Fa-f]{2})/chr hex $1/ge;
    return $s;
}

sub ascii_lower {
    my ($s) = @_;
    $s =~ tr/A-Z/a-z/;
    return $s;
}

sub trim_blanks {
    my ($s) = @_;
    $s =~ s/\A[ \t]+//;
    $s =~ s/[ \t]+\z//;
    return $s;
}

sub parse_form {
    my ($s) = @_;
    my @pairs;
    for my $piece (split /&/, $s, -1) {
        next if $piece eq '';
        my ($k, $v) = split /=/, $piece, 2;
        push @pairs, [unescape($k), unescape(defined $v ? $v : '')];
    }
    return \@pairs;
}

sub parse_cookies {
    my ($s) = @_;
    my @pairs;
    for my $piece (split /;/, $s, -1) {
        $piece = trim_blanks($piece);
        next if $piece eq '' || index($piece, '=') < 0;
        my ($k, $v) = split /=/, $piece, 2;
        push @pairs, [$k, $v];
    }
    return \@pairs;
}

# parse_params parses `; name=value; name="value"` lists: names lowercased, the first of a name
# wins, a quoted value ends at the next quote.
sub parse_params {
    my ($s) = @_;
    my %params;
    while (1) {
        $s =~ s/\A[ \t;]+//;
        return \%params if $s eq '';
        return \%params unless $s =~ /[=;]/;
        my $at = $-[0];
        if (substr($s, $at, 1) eq ';') {
            $s = substr($s, $at);
            next;
        }
        my $name = ascii_lower(trim_blanks(substr($s, 0, $at)));
        $s = substr($s, $at + 1);
        $s =~ s/\A[ \t]+//;
        my $value;
        if (substr($s, 0, 1) eq '"') {
            my $end = index($s, '"', 1);
            if ($end < 0) {
                ($value, $s) = (substr($s, 1), '');
            } else {
                ($value, $s) = (substr($s, 1, $end - 1), substr($s, $end + 1));
            }
        } else {
            my $end = index($s, ';');
            $end = length $s if $end < 0;
            ($value, $s) = (substr($s, 0, $end), substr($s, $end));
            $value =~ s/[ \t]+\z//;
        }
        $params{$name} = $value unless exists $params{$name};
    }
}

sub media_type {
    my ($s) = @_;
    my ($media, $rest) = split /;/, $s, 2;
    $media = '' unless defined $media;
    return (ascii_lower(trim_blanks($media)), parse_params(defined $rest ? $rest : ''));
}

sub adler32 {
    require Compress::Raw::Zlib;    # only multipart file parts need it
    return Compress::Raw::Zlib::adler32($_[0]);
}

# parse_multipart returns text fields and file lines; a file's value is already the escaped
# "FILENAME;size=N;adler32=XXXXXXXX".
sub parse_multipart {
    my ($body, $boundary) = @_;
    my (@fields, @files);
    my $delim = "--$boundary";
    my $next  = "\r\n$delim";
    my $pos;
    if (substr($body, 0, length $delim) eq $delim) {
        $pos = length $delim;
    } else {
        my $i = index($body, $next);
        return (\@fields, \@files) if $i < 0;
        $pos = $i + length $next;
    }
    while (1) {
        last if substr($body, $pos, 2) eq '--';
        my $eol = index($body, "\r\n", $pos);
        last if $eol < 0;
        $pos = $eol + 2;
        my $end = index($body, $next, $pos);
        last if $end < 0;
        my $part = substr($body, $pos, $end - $pos);
        $pos = $end + length $next;

        next if substr($part, 0, 2) eq "\r\n";    # no headers, so no Content-Disposition
        my $hdr = index($part, "\r\n\r\n");
        next if $hdr < 0;
        my $disp = '';
        for my $line (split /\r\n/, substr($part, 0, $hdr), -1) {
            my $colon = index($line, ':');
            next if $colon < 0;
            if (ascii_lower(trim_blanks(substr($line, 0, $colon))) eq 'content-disposition') {
                $disp = substr($line, $colon + 1);
            }
        }
        my ($kind, $params) = media_type($disp);
        next if $kind ne 'form-data' || !exists $params->{name};
        my $content = substr($part, $hdr + 4);
        if (exists $params->{filename}) {
            push @files, [$params->{name}, sprintf('%s;size=%d;adler32=%08x',
                escape($params->{filename}), length $content, adler32($content))];
        } else {
            push @fields, [$params->{name}, $content];
        }
    }
    return (\@fields, \@files);
}

sub last_value {
    my ($pairs, $key) = @_;
    for my $p (reverse @$pairs) {
        return $p->[1] if $p->[0] eq $key;
    }
    return undef;
}

sub work {
    my ($n) = @_;
    my $x = 1;
    $x = $x * 48271 % 2147483647 for 1 .. $n;
    return $x;
}

# section returns PREFIX+escape(key)=value lines, stably sorted by escaped key.
sub section {
    my ($prefix, $pairs, $raw) = @_;
    my $i = 0;
    my @lines = map { [escape($_->[0]), $raw ? $_->[1] : escape($_->[1]), $i++] } @$pairs;
    return join '', map { "$prefix$_->[0]=$_->[1]\n" }
        sort { $a->[0] cmp $b->[0] || $a->[2] <=> $b->[2] } @lines;
}

# handle runs the app on one request and returns the CGI stdout bytes.
sub handle {
    my (%req) = @_;
    my $query = parse_form($req{query});
    my ($form, $files) = ([], []);
    my ($media, $params) = media_type($req{content_type});
    if ($media eq 'application/x-www-form-urlencoded') {
        $form = parse_form($req{body});
    } elsif ($media eq 'multipart/form-data'
        && defined $params->{boundary} && $params->{boundary} ne '') {
        ($form, $files) = parse_multipart($req{body}, $params->{boundary});
    }
    my $cookies = parse_cookies($req{cookie});

    my $out = '';
    my $status = last_value($query, 'status');
    if (defined $status && $status =~ /\A[0-9]{3}\z/) {
        my $code = $status + 0;
        if ($code >= 200 && $code <= 599 && $code != 204 && $code != 304) {
            $out .= "Status: $code Set By Query\n";
        }
    }
    my $visits = last_value($cookies, 'visits');
    $visits = defined $visits && $visits =~ /\A[0-9]{1,9}\z/ ? $visits + 0 : 0;
    $out .= "Content-Type: text/plain; charset=utf-8\n";
    $out .= 'Set-Cookie: visits=' . ($visits + 1) . "; Path=/\n\n";
    $out .= 'method=' . escape($req{method}) . "\n";
    $out .= section('query.', $query);
    $out .= section('form.', $form);
    $out .= section('file.', $files, 1);
    $out .= section('cookie.', $cookies);
    my $w = last_value($query, 'work');
    if (defined $w && $w =~ /\A[0-9]{1,9}\z/ && $w <= MAX_WORK) {
        my $n = $w + 0;
        $out .= "work=$n;result=" . work($n) . "\n";
    }
    return $out;
}

# content_length parses CONTENT_LENGTH like the Go oracle (optional sign, decimal digits); it
# returns undef when the value is not a byte count.
sub content_length {
    my ($s) = @_;
    return undef unless $s =~ /\A([+-]?)([0-9]{1,18})\z/;
    return undef if $1 eq '-' && $2 != 0;
    return $2 + 0;
}

# read_body reads exactly $n bytes from $fh (never to EOF), or returns undef when it ends early.
sub read_body {
    my ($fh, $n) = @_;
    my $body = '';
    while (length $body < $n) {
        my $got = read($fh, $body, $n - length $body, length $body);
        return undef unless $got;
    }
    return $body;
}

# request_from reads a request from a CGI environment and stdin; it dies on a bad body.
sub request_from {
    my ($env, $fh) = @_;
    my $body = '';
    my $cl = defined $env->{CONTENT_LENGTH} ? $env->{CONTENT_LENGTH} : '';
    if ($cl ne '') {
        my $n = content_length($cl);
        die "CONTENT_LENGTH \"$cl\" is not a byte count\n" unless defined $n;
        if ($n > 0) {
            $body = read_body($fh, $n);
            die "body ended before $n bytes\n" unless defined $body;
        }
    }
    my %req = (body => $body);
    for ([method => 'REQUEST_METHOD'], [query => 'QUERY_STRING'],
        [content_type => 'CONTENT_TYPE'], [cookie => 'HTTP_COOKIE']) {
        $req{ $_->[0] } = defined $env->{ $_->[1] } ? $env->{ $_->[1] } : '';
    }
    return %req;
}

sub main {
    binmode STDIN;
    binmode STDOUT;
    my %req = eval { request_from(\%ENV, \*STDIN) };
    if ($@) {
        print STDERR "app.pl: $@";
        return 1;
    }
    print STDOUT handle(%req);
    return 0;
}

exit main() unless caller;

1;
