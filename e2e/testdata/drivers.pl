# Perl DBI with DBD::MariaDB (the MariaDB C connector) through the gate,
# with server-side prepared statements. Run by e2e/drivers_test.go as
#     perl drivers.pl HOST PORT KEYSPACE
use strict;
use warnings;
use DBI;

my ($host, $port, $keyspace) = @ARGV;
my $dbh = DBI->connect("DBI:MariaDB:database=$keyspace;host=$host;port=$port", "root", "",
    {RaiseError => 1, PrintError => 0, AutoCommit => 1, mariadb_server_prepare => 1})
    or die "connect: $DBI::errstr";

sub check { my ($what, $got, $want) = @_; die "$what: got '$got', want '$want'\n" if ($got // 'NULL') ne ($want // 'NULL'); }

$dbh->do("DROP TABLE IF EXISTS pldrv");
$dbh->do("CREATE TABLE pldrv (id BIGINT PRIMARY KEY, name VARCHAR(50), data BLOB, n INT)");
my $ins = $dbh->prepare("INSERT INTO pldrv (id, name, data, n) VALUES (?, ?, ?, ?)");
my $blob = join('', map { chr } 0 .. 255);
for my $i (1 .. 30) {
    $ins->bind_param(1, $i * 7919);
    $ins->bind_param(2, "perl $i 'q'");
    $ins->bind_param(3, $blob, DBI::SQL_BLOB);
    $ins->bind_param(4, $i % 3 ? $i : undef);
    $ins->execute;
}
my $sel = $dbh->prepare("SELECT name, data, n FROM pldrv WHERE id = ?");
for my $i (1 .. 30) {
    $sel->execute($i * 7919);
    my ($name, $data, $n) = $sel->fetchrow_array;
    check("name $i", $name, "perl $i 'q'");
    check("blob $i", $data eq $blob ? 'same' : 'differs', 'same');
    check("n $i", $n, $i % 3 ? $i : undef);
}
check("count", $dbh->selectrow_array("SELECT COUNT(*) FROM pldrv"), 30);

$dbh->begin_work;
check("rows updated", $dbh->do("UPDATE pldrv SET n = -1 WHERE id IN (?, ?)", undef, 7919, 2 * 7919), 2);
$dbh->rollback;
check("after rollback", $dbh->selectrow_array("SELECT COUNT(*) FROM pldrv WHERE n = -1"), 0);

eval { $ins->execute(7919, 'dup', undef, undef); };
check("duplicate key error", $dbh->err, 1062);
print "perl driver ok\n";
