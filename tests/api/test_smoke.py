from fastapi.testclient import TestClient


def test_accounts_list_is_empty_on_a_fresh_database(client: TestClient, auth) -> None:
    response = client.get("/api/v1/accounts", headers=auth("read"))
    assert response.status_code == 200
    assert response.json() == {"data": [], "next_cursor": None}
