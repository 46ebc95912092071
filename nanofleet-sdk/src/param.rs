//! How a handler's parameters are told apart: by the traits their types implement.
//!
//! A parameter whose type implements [`FromToolCall`] is *injected*: taken from the call (the
//! agent, its store, the context, a state value), never part of the input schema. Any other
//! parameter is an *argument*: decoded from the request (`Deserialize`) and described in the
//! input schema (`JsonSchema`). A type that is both is injected.
//!
//! A procedural macro sees names, not traits, so `#[tool]` and `#[prompt]` expand every
//! parameter to method calls on a [`Param<T>`] written as `(&&Param::<T>::new())`, and the
//! compiler chooses: method lookup tries `&&Param<T>` before it dereferences to `&Param<T>`,
//! so [`InjectedParam`] (implemented for `&Param<T>` where `T: FromToolCall`) wins over
//! [`ArgumentParam`] (implemented for every `Param<T>`, its methods bounded by
//! [`ArgumentValue`] and [`ArgumentSchema`]). A type that is neither fails to compile with the missing `Deserialize`,
//! `JsonSchema` or `FromToolCall` named. This is "autoref specialisation"; it needs the
//! concrete type, which the expansion always has.
//!
//! Not a public API: the macros' expansion calls it through `__private`.

use std::{fmt, marker::PhantomData};

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{
    Serialize,
    de::{self, DeserializeOwned, IgnoredAny, MapAccess, Visitor},
};
use serde_json::Value;

use crate::{
    requirements::Requirements,
    tool::{FromToolCall, ToolCall, ToolError},
};

/// The probe the macros call methods on; see the module docs.
pub struct Param<T>(PhantomData<fn() -> T>);

impl<T> Param<T> {
    /// The probe for a parameter of type `T`.
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Self {
        Param(PhantomData)
    }
}

/// What the macro knows of an argument besides its type: its name in the request, the text of
/// its doc comment, its default.
pub struct Spec<T> {
    /// The argument's name in the request (the parameter's, or its `rename`).
    pub name: &'static str,
    /// The schema title: the doc comment's first line when it is a `# heading`.
    pub title: &'static str,
    /// The schema description: the rest of the doc comment.
    pub description: &'static str,
    /// `#[arg(default)]` / `#[arg(default = ...)]`.
    pub default: Option<fn() -> T>,
}

/// A type an argument can be decoded into. Each part of what an argument needs is its own
/// trait, so that a type that is neither an argument nor supplied by the SDK is one error per
/// missing trait.
#[diagnostic::on_unimplemented(
    message = "`{Self}` can be neither an argument nor supplied by the SDK",
    label = "not `Deserialize`, and not supplied by the SDK",
    note = "an argument the caller passes implements `Deserialize` and `JsonSchema` (derive \
            both); a value the SDK supplies from the call implements `FromToolCall` (`AgentId`, \
            `AgentStore`, `Context`, `State<T>`, ...)"
)]
pub trait ArgumentValue: DeserializeOwned {}

impl<T: DeserializeOwned> ArgumentValue for T {}

/// A type an argument's input schema can be derived from; see [`ArgumentValue`].
#[diagnostic::on_unimplemented(
    message = "`{Self}` can be neither an argument nor supplied by the SDK",
    label = "not `JsonSchema`, and not supplied by the SDK",
    note = "an argument the caller passes implements `Deserialize` and `JsonSchema` (derive \
            both); a value the SDK supplies from the call implements `FromToolCall` (`AgentId`, \
            `AgentStore`, `Context`, `State<T>`, ...)"
)]
pub trait ArgumentSchema: JsonSchema {}

impl<T: JsonSchema> ArgumentSchema for T {}

/// Implemented by no type: the bound of [`InjectedParam::arg_attribute`], so that `#[arg]` on
/// a value the SDK supplies fails to compile with this message.
#[diagnostic::on_unimplemented(
    message = "`#[arg(...)]` applies to arguments the caller passes; `{Self}` is supplied by \
               the SDK",
    label = "not an argument: remove `#[arg(...)]`",
    note = "a parameter whose type implements `FromToolCall` is taken from the call, not from \
            the request's arguments"
)]
pub trait ArgumentAttribute {}

/// Implemented by no type: the bound of [`ArgumentParam::pattern`], so that an argument bound
/// by a pattern fails to compile with this message.
#[diagnostic::on_unimplemented(
    message = "an argument needs a name: it is the argument's name in the input schema",
    label = "bind `{Self}` to a name and destructure it in the body",
    note = "only a value the SDK supplies (`FromToolCall`, e.g. `State(db): State<Db>`) may be \
            bound by a pattern"
)]
pub trait NamedArgument {}

/// An empty schema of type `object`, which each argument's property is added to.
pub fn object_schema() -> Schema {
    schemars::json_schema!({ "type": "object" })
}

/// The methods of an injected parameter (`T: FromToolCall`).
pub trait InjectedParam<T> {
    /// Decodes the request's value for the parameter's name: an injected parameter has none,
    /// so a key of that name is skipped.
    fn next_value<'de, A: MapAccess<'de>>(&self, map: &mut A) -> Result<Option<T>, A::Error>;
    /// The value once every key is read.
    fn finish<E: de::Error>(&self, slot: Option<T>, spec: &Spec<T>) -> Result<Option<T>, E>;
    /// The value the handler receives.
    fn take(&self, slot: Option<T>, call: &ToolCall) -> Result<T, ToolError>;
    /// Adds the parameter to the input schema: an injected one adds nothing.
    fn describe(
        &self,
        schema: &mut Schema,
        generator: &mut SchemaGenerator,
        spec: &Spec<T>,
        default: Option<Value>,
    );
    /// What the parameter needs from the plugin.
    fn requirements(&self, needs: &mut Requirements);
    /// Compiles where `#[arg(...)]` is allowed: never, for a value the SDK supplies.
    fn arg_attribute(&self)
    where
        T: ArgumentAttribute;
    /// Compiles where a pattern may bind the parameter: always, for a value the SDK supplies.
    fn pattern(&self);
    /// `#[arg(default)]`: none for a value the SDK supplies (`arg_attribute` reports it).
    fn trait_default(&self) -> Option<fn() -> T> {
        None
    }
}

impl<T: FromToolCall> InjectedParam<T> for &Param<T> {
    fn next_value<'de, A: MapAccess<'de>>(&self, map: &mut A) -> Result<Option<T>, A::Error> {
        map.next_value::<IgnoredAny>()?;
        Ok(None)
    }

    fn finish<E: de::Error>(&self, _: Option<T>, _: &Spec<T>) -> Result<Option<T>, E> {
        Ok(None)
    }

    fn take(&self, _: Option<T>, call: &ToolCall) -> Result<T, ToolError> {
        call.extract()
    }

    fn describe(&self, _: &mut Schema, _: &mut SchemaGenerator, _: &Spec<T>, _: Option<Value>) {}

    fn requirements(&self, needs: &mut Requirements) {
        T::requirements(needs);
    }

    fn arg_attribute(&self)
    where
        T: ArgumentAttribute,
    {
    }

    fn pattern(&self) {}
}

/// The methods of an argument (`T: Deserialize + JsonSchema`).
pub trait ArgumentParam<T> {
    /// Decodes the request's value for the parameter's name.
    fn next_value<'de, A: MapAccess<'de>>(&self, map: &mut A) -> Result<Option<T>, A::Error>
    where
        T: ArgumentValue;
    /// The value once every key is read: the default, `None` for an `Option`, or the error
    /// `missing field` naming it.
    fn finish<E: de::Error>(&self, slot: Option<T>, spec: &Spec<T>) -> Result<Option<T>, E>
    where
        T: ArgumentValue;
    /// The value the handler receives.
    fn take(&self, slot: Option<T>, call: &ToolCall) -> Result<T, ToolError>;
    /// Adds the argument to the input schema, as `#[derive(JsonSchema)]` adds a field, with
    /// its default as JSON (when its type is `Serialize`).
    fn describe(
        &self,
        schema: &mut Schema,
        generator: &mut SchemaGenerator,
        spec: &Spec<T>,
        default: Option<Value>,
    ) where
        T: ArgumentValue + ArgumentSchema;
    /// What the parameter needs from the plugin: an argument needs nothing. (No bound: a type
    /// that is neither kind is reported where the value is decoded.)
    fn requirements(&self, needs: &mut Requirements);
    /// Compiles where `#[arg(...)]` is allowed: on every argument.
    fn arg_attribute(&self)
    where
        T: ArgumentValue + ArgumentSchema;
    /// Compiles where a pattern may bind the parameter: never, for an argument.
    fn pattern(&self)
    where
        T: NamedArgument;
    /// `#[arg(default)]`: `T::default`.
    fn trait_default(&self) -> Option<fn() -> T>
    where
        T: ArgumentValue + ArgumentSchema + Default;
}

impl<T> ArgumentParam<T> for Param<T> {
    fn next_value<'de, A: MapAccess<'de>>(&self, map: &mut A) -> Result<Option<T>, A::Error>
    where
        T: ArgumentValue,
    {
        map.next_value::<T>().map(Some)
    }

    fn finish<E: de::Error>(&self, slot: Option<T>, spec: &Spec<T>) -> Result<Option<T>, E>
    where
        T: ArgumentValue,
    {
        match (slot, spec.default) {
            (Some(value), _) => Ok(Some(value)),
            (None, Some(default)) => Ok(Some(default())),
            (None, None) => T::deserialize(Missing::<E>::new(spec.name)).map(Some),
        }
    }

    fn take(&self, slot: Option<T>, _: &ToolCall) -> Result<T, ToolError> {
        // `finish` filled every argument's slot or failed the decoding.
        slot.ok_or_else(|| ToolError::new("an argument was not decoded"))
    }

    fn describe(
        &self,
        schema: &mut Schema,
        generator: &mut SchemaGenerator,
        spec: &Spec<T>,
        default: Option<Value>,
    ) where
        T: ArgumentValue + ArgumentSchema,
    {
        let mut property = generator.subschema_for::<T>();
        for (key, text) in [("title", spec.title), ("description", spec.description)] {
            if !text.is_empty() {
                property.insert(key.into(), text.into());
            }
        }
        if let Some(value) = default {
            property.insert("default".into(), value);
        }
        let optional = spec.default.is_some() || is_optional::<T>();
        let object = schema.ensure_object();
        if let Some(properties) = object
            .entry("properties")
            .or_insert_with(|| Value::Object(Default::default()))
            .as_object_mut()
        {
            properties.insert(spec.name.into(), property.into());
        }
        if !optional
            && let Some(required) = object
                .entry("required")
                .or_insert_with(|| Value::Array(Vec::new()))
                .as_array_mut()
        {
            required.push(spec.name.into());
        }
    }

    fn requirements(&self, _: &mut Requirements) {}

    fn arg_attribute(&self)
    where
        T: ArgumentValue + ArgumentSchema,
    {
    }

    fn pattern(&self)
    where
        T: NamedArgument,
    {
    }

    fn trait_default(&self) -> Option<fn() -> T>
    where
        T: ArgumentValue + ArgumentSchema + Default,
    {
        Some(T::default)
    }
}

/// Whether an argument may be left out: the same test decoding applies (an `Option` decodes
/// from absence), so the schema's `required` and the decoder never disagree.
fn is_optional<T: DeserializeOwned>() -> bool {
    T::deserialize(Missing::<de::value::Error>::new("")).is_ok()
}

/// The JSON of a default value when its type is `Serialize`: the inherent method below where it
/// is, the [`NotSerialize`] fallback where it is not.
pub struct MaybeSerialize<T>(pub T);

impl<T: Serialize> MaybeSerialize<T> {
    /// The value as JSON.
    pub fn to_json(&self) -> Option<Value> {
        serde_json::to_value(&self.0).ok()
    }
}

/// The fallback of [`MaybeSerialize::to_json`]: no JSON for a type that cannot be serialized.
pub trait NotSerialize {
    /// Nothing.
    fn to_json(&self) -> Option<Value> {
        None
    }
}

impl<T> NotSerialize for MaybeSerialize<T> {}

/// The deserializer of an absent field: an `Option` becomes `None`, anything else is the
/// error `missing field` (what `#[derive(Deserialize)]` does).
struct Missing<E> {
    name: &'static str,
    error: PhantomData<E>,
}

impl<E> Missing<E> {
    fn new(name: &'static str) -> Self {
        Missing {
            name,
            error: PhantomData,
        }
    }
}

impl<'de, E: de::Error> de::Deserializer<'de> for Missing<E> {
    type Error = E;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, E> {
        Err(E::missing_field(self.name))
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        visitor.visit_none()
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier
    }
}

/// `expecting` of the expansion's visitor.
pub fn expecting(formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
    formatter.write_str("an object of named arguments")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, JsonSchema)]
    struct Plain {
        _x: u32,
    }

    #[test]
    fn options_may_be_left_out_and_the_rest_may_not() {
        assert!(is_optional::<Option<u32>>());
        assert!(is_optional::<Option<Plain>>());
        assert!(!is_optional::<u32>());
        assert!(!is_optional::<String>());
        assert!(!is_optional::<Plain>());
        assert!(!is_optional::<Vec<u32>>());
    }

    #[test]
    fn a_missing_argument_is_named() {
        let spec = Spec::<u32> {
            name: "limit",
            title: "",
            description: "",
            default: None,
        };
        let error = ArgumentParam::finish::<de::value::Error>(&Param::<u32>::new(), None, &spec)
            .err()
            .map(|e| e.to_string());
        assert_eq!(error.as_deref(), Some("missing field `limit`"));
        let spec = Spec::<u32> {
            default: Some(|| 7),
            ..spec
        };
        let value =
            ArgumentParam::finish::<de::value::Error>(&Param::<u32>::new(), None, &spec).ok();
        assert_eq!(value, Some(Some(7)));
    }

    #[test]
    #[allow(clippy::needless_borrow)] // the borrows are the point: see the module docs
    fn the_type_decides_injected_or_argument() {
        // What the expansion writes: `AgentId` is supplied, `u32` is an argument.
        let mut needs = Requirements::default();
        (&&Param::<crate::AgentId>::new()).requirements(&mut needs);
        (&&Param::<u32>::new()).requirements(&mut needs);
        let mut generator = SchemaGenerator::default();
        let mut schema = Schema::default();
        fn spec<T>(name: &'static str) -> Spec<T> {
            Spec {
                name,
                title: "",
                description: "",
                default: None,
            }
        }
        (&&Param::<crate::AgentId>::new()).describe(
            &mut schema,
            &mut generator,
            &spec("agent"),
            None,
        );
        (&&Param::<u32>::new()).describe(&mut schema, &mut generator, &spec("limit"), None);
        let value = serde_json::to_value(&schema).unwrap_or_default();
        assert!(value["properties"]["limit"].is_object());
        assert!(value["properties"].get("agent").is_none());
        assert_eq!(value["required"], serde_json::json!(["limit"]));
    }
}
