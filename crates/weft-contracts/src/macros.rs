//! Small declarative helpers for the payload modules.

/// An Avro enum as a Rust enum: each variant serialises as its Avro symbol; the `default` variant
/// is the schema's enum default and also catches symbols this build does not know yet (a newer
/// writer's), so old readers keep working when the vocabulary grows.
///
/// ```
/// weft_contracts::avro_enum! {
///     /// Colour of a thing.
///     pub enum Colour { Red = "red", Green = "green"; default Unknown = "unknown" }
/// }
/// assert_eq!(Colour::SYMBOLS, ["red", "green", "unknown"]);
/// assert_eq!(Colour::default(), Colour::Unknown);
/// assert_eq!(Colour::from_symbol("green"), Colour::Green);
/// assert_eq!(Colour::from_symbol("mauve"), Colour::Unknown);
/// ```
#[macro_export]
macro_rules! avro_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $variant:ident = $symbol:literal ),+ ;
            default $other:ident = $osymbol:literal $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize)]
        pub enum $name {
            $(
                #[doc = concat!("Avro symbol `", $symbol, "`.")]
                #[serde(rename = $symbol)]
                $variant,
            )+
            #[doc = concat!("Avro symbol `", $osymbol, "`: the default, also read for symbols this build does not know.")]
            #[default]
            #[serde(rename = $osymbol, other)]
            $other,
        }

        impl $name {
            /// Every Avro symbol this type knows, the default last.
            pub const SYMBOLS: &'static [&'static str] = &[$($symbol,)+ $osymbol];

            /// The variant of an Avro symbol; a symbol this type does not know is the default,
            /// as when reading. Converts between enums of two schemas that share symbols:
            /// `ProductStockStatus::from_symbol(status.as_str())`.
            pub fn from_symbol(symbol: &str) -> Self {
                match symbol {
                    $( $symbol => $name::$variant, )+
                    _ => $name::$other,
                }
            }

            /// The Avro symbol.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $symbol, )+
                    $name::$other => $osymbol,
                }
            }
        }
    };
}
