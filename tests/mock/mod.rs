//! The mock server over real TCP: each endpoint, each error status, validation,
//! every list parameter, auth and roles, tokens, CORS; plus a proptest model test and
//! a concurrency test.

use crate::util::*;
use nexudus_mock::resource::BASE_PATH;
use nexudus_mock::schemas::Schema;

#[tokio::test]
async fn getting_one_returns_the_record_in_its_schema() {
    let s = TestServer::start().await;
    let r = s
        .call("GET", &format!("{BASE_PATH}/87654303"), ADMIN, None)
        .await;
    assert_eq!(r.status, 200);
    let v = body_matching(&r, Schema::Record);
    assert_eq!(v["Id"], 87654303);
}
