//! Lex V2 wire vocabulary: string enums that also accept values AWS adds later.

use serde::{Deserialize, Serialize};

/// Declares a string enum whose unknown wire values parse into `Other(String)` instead of failing.
macro_rules! open_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal,)+ }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(from = "String", into = "String")]
        pub enum $name {
            $($(#[$vdoc])* $variant,)+
            /// A value this crate does not know (AWS adds values without bumping `messageVersion`).
            Other(String),
        }

        impl $name {
            /// The spelling Lex uses on the wire.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $text,)+
                    Self::Other(text) => text,
                }
            }
        }

        impl From<String> for $name {
            fn from(text: String) -> Self {
                match text.as_str() {
                    $($text => Self::$variant,)+
                    _ => Self::Other(text),
                }
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> Self {
                match value {
                    $name::Other(text) => text,
                    known => known.as_str().to_owned(),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

open_enum! {
    /// Why Lex invoked the Lambda (`invocationSource`).
    InvocationSource {
        /// Called on each turn to validate/steer the dialog.
        DialogCodeHook = "DialogCodeHook",
        /// Called once the intent is ready to be fulfilled.
        FulfillmentCodeHook = "FulfillmentCodeHook",
    }
}

open_enum! {
    /// How the user spoke to the bot (`inputMode`).
    InputMode {
        /// Typed text.
        Text = "Text",
        /// Voice, transcribed by Lex.
        Speech = "Speech",
        /// Telephone keypad.
        Dtmf = "DTMF",
    }
}

open_enum! {
    /// Fulfillment state of an intent (`intent.state`).
    IntentState {
        /// The bot could not fulfill the intent.
        Failed = "Failed",
        /// The intent is fulfilled.
        Fulfilled = "Fulfilled",
        /// Fulfillment has started.
        FulfillmentInProgress = "FulfillmentInProgress",
        /// Slots are still being elicited.
        InProgress = "InProgress",
        /// All slots are filled; ready for fulfillment.
        ReadyForFulfillment = "ReadyForFulfillment",
        /// Waiting for the user (wait-and-continue).
        Waiting = "Waiting",
    }
}

open_enum! {
    /// Whether the user confirmed the intent (`intent.confirmationState`).
    ConfirmationState {
        /// The user confirmed.
        Confirmed = "Confirmed",
        /// The user denied.
        Denied = "Denied",
        /// Confirmation has not happened (wire value `"None"`).
        Unconfirmed = "None",
    }
}

open_enum! {
    /// What Lex does next (`dialogAction.type`).
    DialogActionType {
        /// End the intent; Lex expects no further input for it.
        Close = "Close",
        /// Ask the user to confirm the intent.
        ConfirmIntent = "ConfirmIntent",
        /// Let Lex pick the next step from the bot configuration.
        Delegate = "Delegate",
        /// Ask the user what they want next (messages required).
        ElicitIntent = "ElicitIntent",
        /// Ask for one slot (`slotToElicit` required).
        ElicitSlot = "ElicitSlot",
    }
}

open_enum! {
    /// Format of a message returned to Lex (`messages[].contentType`).
    ContentType {
        /// Plain text, at most 1000 characters.
        PlainText = "PlainText",
        /// Speech Synthesis Markup Language.
        Ssml = "SSML",
        /// Application-defined payload.
        CustomPayload = "CustomPayload",
        /// Card with buttons (`imageResponseCard`).
        ImageResponseCard = "ImageResponseCard",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values_round_trip() {
        let mode: InputMode = serde_json::from_str("\"DTMF\"").unwrap();
        assert_eq!(mode, InputMode::Dtmf);
        assert_eq!(serde_json::to_string(&mode).unwrap(), "\"DTMF\"");
        let state: ConfirmationState = serde_json::from_str("\"None\"").unwrap();
        assert_eq!(state, ConfirmationState::Unconfirmed);
        assert_eq!(
            serde_json::to_string(&ContentType::Ssml).unwrap(),
            "\"SSML\""
        );
    }

    #[test]
    fn unknown_values_parse_and_serialize_verbatim() {
        let source: InvocationSource = serde_json::from_str("\"FutureHook\"").unwrap();
        assert_eq!(source, InvocationSource::Other("FutureHook".to_owned()));
        assert_eq!(serde_json::to_string(&source).unwrap(), "\"FutureHook\"");
        assert_eq!(source.to_string(), "FutureHook");
    }

    #[test]
    fn non_string_values_are_rejected() {
        assert!(serde_json::from_str::<IntentState>("3").is_err());
    }
}
