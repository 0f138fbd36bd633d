"""How server errors reach NBI clients: a failover is retryable, anything else is the server's."""

from __future__ import annotations

import pymysql
from fastapi import HTTPException

from labkit.db.mysql import FailoverInProgress
from labkit.db.mysql_routes import _http_error


def test_a_read_only_server_means_retry():
    err = _http_error(pymysql.OperationalError(1290, "The MariaDB server is running with the "
                                                      "--read-only option"))
    assert isinstance(err, FailoverInProgress) and "1290" in err.message


def test_a_lost_connection_means_retry():
    assert isinstance(_http_error(pymysql.OperationalError(2013, "Lost connection")),
                      FailoverInProgress)


def test_other_errors_carry_the_servers_words():
    err = _http_error(pymysql.ProgrammingError(1146, "Table 'labkit.nope' doesn't exist"))
    assert isinstance(err, HTTPException) and err.status_code == 500
    assert "1146" in err.detail and "doesn't exist" in err.detail
