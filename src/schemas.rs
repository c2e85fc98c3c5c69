//! The JSON Schemas in `schemas/`, built into the binary and compiled once (draft
//! 2020-12, with `format` checked so `uuid` and `date-time` are enforced). The mock
//! checks fixtures with them, the tests check every response body, and the contract
//! runner and the fuzzer check targets with the very same validators.

use jsonschema::Validator;
use once_cell::sync::Lazy;
use serde_json::Value;

/// The schemas this crate knows, one per file in `schemas/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Schema {
    Record,
    Create,
    Update,
    Action,
    ValidationError,
    List,
    Batch,
    Token,
    OAuthError,
    Error,
}

impl Schema {
    pub const ALL: [Schema; 10] = [
        Schema::Record,
        Schema::Create,
        Schema::Update,
        Schema::Action,
        Schema::ValidationError,
        Schema::List,
        Schema::Batch,
        Schema::Token,
        Schema::OAuthError,
        Schema::Error,
    ];

    pub fn file_name(self) -> &'static str {
        match self {
            Schema::Record => "record.schema.json",
            Schema::Create => "create.schema.json",
            Schema::Update => "update.schema.json",
            Schema::Action => "action.schema.json",
            Schema::ValidationError => "validation-error.schema.json",
            Schema::List => "list.schema.json",
            Schema::Batch => "batch.schema.json",
            Schema::Token => "token.schema.json",
            Schema::OAuthError => "oauth-error.schema.json",
            Schema::Error => "error.schema.json",
        }
    }

    /// The schema's source text as shipped in `schemas/`.
    pub fn source(self) -> &'static str {
        match self {
            Schema::Record => include_str!("../schemas/record.schema.json"),
            Schema::Create => include_str!("../schemas/create.schema.json"),
            Schema::Update => include_str!("../schemas/update.schema.json"),
            Schema::Action => include_str!("../schemas/action.schema.json"),
            Schema::ValidationError => include_str!("../schemas/validation-error.schema.json"),
            Schema::List => include_str!("../schemas/list.schema.json"),
            Schema::Batch => include_str!("../schemas/batch.schema.json"),
            Schema::Token => include_str!("../schemas/token.schema.json"),
            Schema::OAuthError => include_str!("../schemas/oauth-error.schema.json"),
            Schema::Error => include_str!("../schemas/error.schema.json"),
        }
    }

    /// The schema as a self-contained document: references to `record.schema.json`
    /// are inlined, so no resolver (and no file or network access) is needed.
    pub fn document(self) -> Value {
        let mut doc: Value =
            serde_json::from_str(self.source()).expect("schemas/ holds valid JSON");
        inline_record_refs(&mut doc);
        doc
    }

    /// Validates an instance; the error lists every violation with its JSON pointer.
    pub fn validate(self, instance: &Value) -> Result<(), String> {
        let validator = &COMPILED[self as usize];
        if validator.is_valid(instance) {
            return Ok(());
        }
        let problems: Vec<String> = validator
            .iter_errors(instance)
            .take(10)
            .map(|e| {
                let at = e.instance_path().to_string();
                format!(
                    "at '{}': {e}",
                    if at.is_empty() { "/" } else { at.as_str() }
                )
            })
            .collect();
        Err(format!(
            "does not match {}: {}",
            self.file_name(),
            problems.join("; ")
        ))
    }
}

fn inline_record_refs(v: &mut Value) {
    match v {
        Value::Object(map) => {
            if map.get("$ref").and_then(Value::as_str) == Some("record.schema.json") {
                let mut record = Schema::Record.document();
                if let Value::Object(r) = &mut record {
                    r.remove("$schema");
                    r.remove("$id");
                }
                *v = record;
                return;
            }
            map.values_mut().for_each(inline_record_refs);
        }
        Value::Array(items) => items.iter_mut().for_each(inline_record_refs),
        _ => {}
    }
}

static COMPILED: Lazy<Vec<Validator>> = Lazy::new(|| {
    Schema::ALL
        .iter()
        .map(|s| {
            jsonschema::draft202012::options()
                .should_validate_formats(true)
                .build(&s.document())
                .unwrap_or_else(|e| panic!("schemas/{} does not compile: {e}", s.file_name()))
        })
        .collect()
});

/// Compiles every schema now, so a broken schema fails at start-up, not mid-request.
pub fn init() {
    Lazy::force(&COMPILED);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_schema_compiles_and_the_documented_examples_validate() {
        init();
        let record = json!({"CoworkerId":0,"Name":"","Value":null,"EncryptedValue":null,"Id":87654321,
            "UpdatedOn":"2025-01-15T10:30:00Z","CreatedOn":"2025-01-10T08:00:00Z",
            "UniqueId":"a1b2c3d4-e5f6-7890-abcd-ef1234567890","UpdatedBy":"admin@example.com","IsNew":false,
            "SystemId":null,"ToStringText":"CoworkerSetting Example","LocalizationDetails":null,"CustomFields":null});
        Schema::Record.validate(&record).unwrap();
        Schema::List.validate(&json!({"Records":[record],"CurrentPageSize":15,"CurrentPage":1,"CurrentOrderField":"Name",
            "CurrentSortDirection":1,"FirstItem":1,"HasNextPage":false,"HasPreviousPage":false,"LastItem":1,
            "PageNumber":1,"PageSize":15,"TotalItems":1,"TotalPages":1})).unwrap();
        Schema::Action.validate(&json!({"Status":200,"Message":"CoworkerSetting was successfully created.","Value":{"Id":87654321},
            "OpenInDialog":false,"OpenInWindow":false,"RedirectURL":null,"JavaScript":null,
            "UpdatedOn":"2025-01-15T10:30:00Z","UpdatedBy":"admin@example.com","Errors":null,"WasSuccessful":true})).unwrap();
        Schema::ValidationError.validate(&json!({"Message":"Name: is a required field","Value":null,
            "Errors":[{"AttemptedValue":null,"Message":"is a required field","PropertyName":"Name"}],"WasSuccessful":false})).unwrap();
    }

    #[test]
    fn formats_are_enforced() {
        let mut record: Value = serde_json::from_str(r#"{"CoworkerId":1,"Name":"n","Value":null,"EncryptedValue":null,"Id":1,
            "UpdatedOn":"2025-01-15T10:30:00Z","CreatedOn":"2025-01-10T08:00:00Z","UniqueId":"not-a-uuid","UpdatedBy":null,
            "IsNew":false,"SystemId":null,"ToStringText":null,"LocalizationDetails":null,"CustomFields":null}"#).unwrap();
        assert!(
            Schema::Record
                .validate(&record)
                .unwrap_err()
                .contains("UniqueId")
        );
        record["UniqueId"] = json!("a1b2c3d4-e5f6-4890-abcd-ef1234567890");
        record["UpdatedOn"] = json!("2025-13-45T10:30:00Z");
        assert!(
            Schema::Record
                .validate(&record)
                .unwrap_err()
                .contains("UpdatedOn")
        );
        record["UpdatedOn"] = json!("2025-01-15T10:30:00Z");
        record["Extra"] = json!(1);
        assert!(Schema::Record.validate(&record).is_err());
    }
}
