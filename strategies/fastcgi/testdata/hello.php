<?php
// hello.php: the page php-cgi serves in the tests of package fastcgi. ?sleep=MS answers after
// MS milliseconds.
if (isset($_GET["sleep"])) {
    usleep((int)$_GET["sleep"] * 1000);
}
header("Content-Type: text/plain");
echo "php method=", $_SERVER["REQUEST_METHOD"], "\n";
echo "query=", $_SERVER["QUERY_STRING"], "\n";
echo "pid=", getmypid(), "\n";
echo "body=", strlen(file_get_contents("php://input")), "\n";
if (isset($_GET["stderr"])) {
    error_log("php says hello on stderr");
}
