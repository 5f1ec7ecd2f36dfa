# SPDX-License-Identifier: MIT
# tests/victims/cycles.pl: a perl program that leaks on command. "cycle N"
# builds N self-referencing hashes (perl never frees a reference cycle);
# "nocycle N" runs the same loop without the cycle. Answers "done".
use strict;
use warnings;
$| = 1;
my @keep;
while (my $line = <STDIN>) {
    my ($cmd, $n) = split ' ', $line;
    last if $cmd eq 'quit';
    if ($cmd eq 'cycle') { for (1..$n) { my %h = (id => $_); $h{self} = \%h; } }
    elsif ($cmd eq 'nocycle') { for (1..$n) { my %h = (id => $_); $h{self} = 1; } }
    print "done\n";
}
