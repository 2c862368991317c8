#!/usr/bin/perl
# workload.pl -- an allocation-heavy, deterministic Perl workload: hashes,
# regexes, sort, string operations and sprintf over ~1e5 items.  Run by
# perl_workload.sh once without and once with an allocator preloaded; the
# two stdouts must be identical.  Hash order is never printed unsorted.
use strict;
use warnings;
use Digest::MD5 qw(md5_hex);

$| = 1;
my $N = 250_000;

my $x = 12345;
sub rnd { $x = ($x * 1103515245 + 12345) % 2147483648; return $x; }
sub dig { return substr(md5_hex(join("\x1f", @_)), 0, 16); }

my @words = qw(alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu
               nu xi omicron pi rho sigma tau upsilon phi chi psi omega);

# --- hashes ---------------------------------------------------------------------
my %h;
for my $i (0 .. $N - 1) {
    my $r = rnd();
    $h{sprintf("k%06d-%s", $i, $words[$r % @words])} = $r;
}
my %by_word;
while (my ($k, $v) = each %h) {
    my ($w) = $k =~ /-(\w+)$/;
    push @{ $by_word{$w} }, $v;
}
my $deleted = 0;
for my $k (sort keys %h) { if ($h{$k} % 3 == 0) { delete $h{$k}; $deleted++ } }
my %inverse = reverse %h;
my %nested;
for my $i (0 .. 59_999) { $nested{ $i % 311 }{ $i % 17 } .= chr(65 + $i % 26); }
my $nested_len = 0;
for my $a (keys %nested) { $nested_len += length($_) for values %{ $nested{$a} }; }
printf "hash: %d %d %d %d %s %d\n", scalar(keys %h), $deleted, scalar(keys %inverse),
    scalar(keys %by_word), dig(map { "$_=" . scalar(@{ $by_word{$_} }) } sort keys %by_word),
    $nested_len;

# --- strings and sprintf --------------------------------------------------------------
my @lines;
for my $i (0 .. $N - 1) {
    my $r = rnd();
    push @lines, sprintf("%06d|%-9s|%8.3f|%x|%s", $i, $words[$r % @words], $r / 1000.0, $r,
                         ($i % 13 == 0 ? "user$i\@host" . ($r % 50) . ".example.org" : "-"));
}
my $text = join("\n", @lines) . "\n";
my $built = '';
$built .= lc($_) . ';' for @lines[0 .. 49_999];
my $rev = reverse $text;
(my $tr = $text) =~ tr/a-z/A-Z/;
my @split = split /\|/, $text;
my $repeat = ('abc' x 5000) . ('xyz' x 5000);
my $substrs = 0;
for my $i (0 .. 29_999) { $substrs += length(substr($repeat, $i % 29_000, 1 + $i % 997)); }
printf "str: %d %s %d %s %s %s %d %d\n", length($text), dig($text), length($built), dig($built),
    dig($rev), dig($tr), scalar(@split), $substrs;

# --- regexes ------------------------------------------------------------------------
my @emails = $text =~ /(\w+)\@(host\d+)\.example\.org/g;
my %domains;
$domains{$_}++ for @emails[ grep { $_ % 2 } 0 .. $#emails ];
my $count_floats = () = $text =~ /\|\s*\d+\.\d{3}\|/g;
(my $masked = $text) =~ s/(\w+)\@(\w+)\.example\.org/\U$2\E at \L$1/g;
(my $swapped = $text) =~ s/^(\d+)\|([a-z]+)\s*\|/$2:$1|/mg;
my $compiled = qr/\b(?:alpha|omega|(?:ps|ch|ph)i)\b/;
my $greek = grep { $_ =~ $compiled } @lines;
my @fields = map { [ split /\|/ ] } @lines[0 .. 19_999];
my $tsum = 0;
$tsum += $_->[2] for @fields;
printf "re: %d %d %d %s %s %d %.3f\n", scalar(@emails), scalar(keys %domains), $count_floats,
    dig($masked), dig($swapped), $greek, $tsum;

# --- sort -------------------------------------------------------------------------
my @nums = map { rnd() } 1 .. $N;
my @sorted_num = sort { $a <=> $b } @nums;
my @sorted_str = sort @lines;
my @by_len = sort { length($a) <=> length($b) or $b cmp $a } map { $_ x (1 + $_ % 3) } @nums[0 .. 39_999];
my @schwartz = map { $_->[1] }
               sort { $a->[0] <=> $b->[0] or $a->[1] cmp $b->[1] }
               map { [ (split /\|/)[2], $_ ] } @lines;
printf "sort: %d %d %d %s %s %s\n", $sorted_num[0], $sorted_num[-1], $sorted_num[$N / 2],
    dig(@sorted_str[0 .. 999]), dig(@by_len[0 .. 999], @by_len[-1000 .. -1]), dig(@schwartz);

# --- arrays of arrays, closures, string eval --------------------------------------
my @matrix = map { my $i = $_; [ map { ($i * $_) % 97 } 0 .. 199 ] } 0 .. 499;
my $trace = 0;
$trace += $matrix[$_][ $_ % 200 ] for 0 .. 499;
my @subs = map { my $k = $_; sub { return $_[0] * $k + length("@_") } } 1 .. 2000;
my $csum = 0;
$csum += $subs[$_ % 2000]->($_) for 0 .. 99_999;
my $evals = 0;
for my $i (1 .. 2000) {
    my $f = eval "sub { \$_[0] + $i }" or die $@;
    $evals += $f->($i);
}
printf "misc: %d %d %d\n", $trace, $csum, $evals;
print "done\n";
